package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockName is the lock file under an output root. Every run holds it while
// it stages and publishes, so that two processes never write one output
// root at once.
const LockName = ".lock"

// ErrLocked says another process holds the output root's lock.
var ErrLocked = errors.New("another run holds the lock")

// Lock takes the exclusive lock of an output root without waiting. The lock
// is an flock(2) on <root>/.lock: the kernel drops it when the process
// exits, however it exits, so a crashed run never leaves a stale lock. Call
// the returned function to release it.
func Lock(root string) (unlock func() error, err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(root, LockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		cerr := f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.Join(fmt.Errorf("%s: %w; wait for it to finish", path, ErrLocked), cerr)
		}
		return nil, errors.Join(fmt.Errorf("lock %s: %w", path, err), cerr)
	}
	return func() error {
		return errors.Join(syscall.Flock(int(f.Fd()), syscall.LOCK_UN), f.Close())
	}, nil
}
