package jobs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"circles/data"
	"circles/data/datatest"
	"circles/output"
)

// suggestions reads a run's friend and group suggestions as sets of
// (user, target) pairs, with the friend reasons.
func suggestions(t *testing.T, dir string) (friends map[[2]int64][]data.Reason, groups map[[2]int64]bool) {
	t.Helper()
	fs, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(dir, output.FileFriends))
	if err != nil {
		t.Fatal(err)
	}
	gs, err := data.ReadParquet[data.GroupSuggestion](filepath.Join(dir, output.FileGroups))
	if err != nil {
		t.Fatal(err)
	}
	friends, groups = map[[2]int64][]data.Reason{}, map[[2]int64]bool{}
	for _, s := range fs {
		friends[[2]int64{s.UserID, s.CandidateID}] = s.Reasons
	}
	for _, s := range gs {
		groups[[2]int64{s.UserID, s.GroupID}] = true
	}
	return friends, groups
}

// appears reports whether user id is on either side of any suggestion.
func appears(friends map[[2]int64][]data.Reason, groups map[[2]int64]bool, id int64) bool {
	for p := range friends {
		if p[0] == id || p[1] == id {
			return true
		}
	}
	for p := range groups {
		if p[0] == id {
			return true
		}
	}
	return false
}

// TestSafetyFactsFailSafe checks that where two facts disagree, or one is
// old, the one that protects the user wins (docs/contract.md, "Safety
// state").
func TestSafetyFactsFailSafe(t *testing.T) {
	// The hand world without changes suggests 10 to 1 and 3 to 9, gives 1
	// group 100, and shows user 3 and 9 in suggestions: each case below
	// removes one of those.
	base, baseGroups := suggestions(t, runWorld(t, handWorld(), testParams()).Dir)
	if _, ok := base[[2]int64{1, 10}]; !ok || !baseGroups[[2]int64{1, 100}] || !appears(base, baseGroups, 3) || !appears(base, baseGroups, 9) {
		t.Fatalf("the hand world no longer has the suggestions this test removes")
	}

	t.Run("a report in the relations snapshot holds at any age", func(t *testing.T) {
		w := handWorld()
		w.Relations = append(w.Relations, data.RelationRow{UserID: 10, OtherID: 1, Kind: "report", CreatedAtMillis: w.At(400, 0)})
		friends, _ := suggestions(t, runWorld(t, w, testParams()).Dir)
		if _, ok := friends[[2]int64{1, 10}]; ok {
			t.Errorf("10 reported 1 400 days ago, yet is suggested to 1")
		}
		if _, ok := friends[[2]int64{10, 1}]; ok {
			t.Errorf("10 reported 1 400 days ago, yet 1 is suggested to 10")
		}
	})
	for says, change := range map[string]func(*data.UserRow){
		"opted out": func(u *data.UserRow) { u.SocialOptOut = true },
		"suspended": func(u *data.UserRow) { u.Status = "suspended" },
	} {
		t.Run("a repeated user row that says "+says+" wins", func(t *testing.T) {
			w := handWorld()
			dup := w.Users[2] // user 3
			change(&dup)
			w.Users = append(w.Users, dup)
			friends, groups := suggestions(t, runWorld(t, w, testParams()).Dir)
			if appears(friends, groups, 3) {
				t.Errorf("user 3's second row says %s, yet 3 is in suggestions", says)
			}
		})
	}
	t.Run("a quarantined user row that says opted out still opts out", func(t *testing.T) {
		w := handWorld()
		bad := w.Users[8] // user 9
		year := int32(1700)
		bad.BirthYear, bad.SocialOptOut = &year, true
		w.Users = append([]data.UserRow{bad}, w.Users...)
		p := testParams()
		p.MaxBadRowFraction = 0.5 // one bad row in eleven
		friends, groups := suggestions(t, runWorld(t, w, p).Dir)
		if appears(friends, groups, 9) {
			t.Errorf("a users row for 9 with a bad birth year says opted out, yet 9 is in suggestions")
		}
	})
	t.Run("a join the memberships snapshot has not caught up with counts", func(t *testing.T) {
		w := handWorld()
		w.Event(1, "group", 100, "join", w.At(5, 10))
		_, groups := suggestions(t, runWorld(t, w, testParams()).Dir)
		if groups[[2]int64{1, 100}] {
			t.Errorf("1 joined group 100 five days ago, yet is suggested it")
		}
	})
	t.Run("small groups are sized by eligible members", func(t *testing.T) {
		// 4 and 6 share group 101 with opted-out 8: a group of two
		// eligible members, small enough to be a candidate source.
		w := handWorld()
		w.Member(101, 6)
		w.Member(101, 8)
		p := testParams()
		p.Friends.SmallGroupSize = 2
		friends, _ := suggestions(t, runWorld(t, w, p).Dir)
		if rs, ok := friends[[2]int64{4, 6}]; !ok || !hasReason(rs, data.ReasonSameGroup) {
			t.Errorf("4 and 6 are the only eligible members of group 101; got suggested %v with reasons %v, want same_group", ok, rs)
		}
	})
}

// TestOptedOutFriendsCountForNothing is the differential property on the
// hand world: user 8 (opted out) is friends with 1 and 5. Deleting those
// friendships must leave every suggestion file byte-identical; before the
// eligibility boundary, 8 still counted in user 1's degree, and every
// Adamic–Adar term through 1 changed.
func TestOptedOutFriendsCountForNothing(t *testing.T) {
	with := runWorld(t, handWorld(), testParams())
	w := handWorld()
	w.Relations = slices.DeleteFunc(w.Relations, func(r data.RelationRow) bool { return r.UserID == 8 || r.OtherID == 8 })
	without := runWorld(t, w, testParams())
	for _, name := range []string{output.FileFriends, output.FileGroups, output.FileActivities, output.FileInterests} {
		a, errA := os.ReadFile(filepath.Join(with.Dir, name))
		b, errB := os.ReadFile(filepath.Join(without.Dir, name))
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s changes when opted-out user 8's friendships are deleted", name)
		}
	}
}

// TestContactsSuggestOnlyToTheirOwner: a contact is a candidate source of
// its own, suggested to the owner of the address book with a reason that
// says so, never the other way round (that would tell someone whose
// address book holds their number). It does not make a minor and an adult
// "not strangers", and an opted-out contact is not suggested.
func TestContactsSuggestOnlyToTheirOwner(t *testing.T) {
	w := datatest.New(runDate, 7)
	for id := int64(1); id <= 5; id++ {
		w.User(id, "hangzhou")
	}
	young := int32(runDate.Year() - 12)
	w.Users[2].BirthYear = &young  // user 3 is a minor
	w.Users[3].SocialOptOut = true // user 4 opted out
	for _, c := range []int64{2, 3, 4} {
		w.Relations = append(w.Relations, data.RelationRow{UserID: 1, OtherID: c, Kind: "contact", CreatedAtMillis: w.At(30, 0)})
	}
	friends, _ := suggestions(t, runWorld(t, w, testParams()).Dir)
	rs, ok := friends[[2]int64{1, 2}]
	if !ok || !slices.ContainsFunc(rs, func(r data.Reason) bool { return r.Code == data.ReasonInContacts }) {
		t.Errorf("1's contact 2 is not suggested to 1 with reason in_contacts: %v (%v)", rs, ok)
	}
	for pair, why := range map[[2]int64]string{
		{2, 1}: "1's address book suggested 1 to 2",
		{1, 3}: "a contact made an adult and a minor not strangers",
		{1, 4}: "an opted-out contact was suggested",
	} {
		if _, ok := friends[pair]; ok {
			t.Error(why)
		}
	}
}
