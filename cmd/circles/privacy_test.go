package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"circles/data"
	"circles/output"
	"circles/pipeline"
)

// TestIneligibleUsersShapeNothing is the differential privacy property:
// deleting every opted-out and suspended user's behaviour (interactions,
// money legs, relations, memberships; their user rows stay) leaves every
// output byte-identical. No single output row can show such a leak, which
// is a count, a degree or a score that an ineligible user still moved.
func TestIneligibleUsersShapeNothing(t *testing.T) {
	world := generated(t)
	date, _ := data.ParseDate(e2eDate)
	all, err := data.ReadTables(world, date)
	if err != nil {
		t.Fatal(err)
	}
	ineligible := map[int64]bool{}
	for _, u := range all.Users {
		if u.SocialOptOut || u.Status != "active" {
			ineligible[u.UserID] = true // any row that says so: duplicates resolve toward privacy
		}
	}
	without := *all
	without.Memberships = slices.DeleteFunc(slices.Clone(all.Memberships), func(m data.MembershipRow) bool { return ineligible[m.UserID] })
	without.Relations = slices.DeleteFunc(slices.Clone(all.Relations), func(r data.RelationRow) bool { return ineligible[r.UserID] || ineligible[r.OtherID] })
	without.Transactions = slices.DeleteFunc(slices.Clone(all.Transactions), func(x data.Transaction) bool {
		return ineligible[x.PayerID] || (x.PayeeType == "user" && ineligible[x.PayeeID])
	})
	without.Interactions = slices.DeleteFunc(slices.Clone(all.Interactions), func(e data.Interaction) bool {
		return ineligible[e.UserID] || (e.TargetKind == "user" && ineligible[e.TargetID])
	})
	removed := len(all.Memberships) - len(without.Memberships) + len(all.Relations) - len(without.Relations) +
		len(all.Transactions) - len(without.Transactions) + len(all.Interactions) - len(without.Interactions)
	if len(ineligible) == 0 || removed == 0 {
		t.Fatalf("the world has %d ineligible users with %d rows of behaviour: the property would hold vacuously", len(ineligible), removed)
	}

	// Both trees go through the same writer, so only the deleted rows
	// differ between them.
	run := func(name string, tables *data.Tables) output.Manifest {
		in := filepath.Join(t.TempDir(), name)
		if err := tables.Write(in, date, e2eDays); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		code, stdout, stderr := circles(t, runArgs(in, out)...)
		if code != 0 {
			t.Fatalf("run on %s exited %d: %s", name, code, stderr)
		}
		return readManifest(t, strings.TrimSpace(stdout))
	}
	a, b := run("all", all), run("without", &without)
	compared := 0
	for _, fa := range a.DataFiles() {
		if fa.Name == output.FileRejects {
			continue // the deleted rows include some the run would quarantine
		}
		i := slices.IndexFunc(b.Outputs, func(fb pipeline.FileEntry) bool { return fb.Name == fa.Name })
		if i < 0 {
			t.Errorf("%s: missing from the run without ineligible users' behaviour", fa.Name)
			continue
		}
		if fb := b.Outputs[i]; fa != fb {
			t.Errorf("%s differs once %d rows of ineligible users' behaviour are deleted: %d rows (sha256 %.12s) vs %d rows (%.12s)",
				fa.Name, removed, fa.Rows, fa.SHA256, fb.Rows, fb.SHA256)
		}
		compared++
	}
	if compared < 8 {
		t.Errorf("compared %d outputs, want every suggestion, interest and factor file", compared)
	}
}
