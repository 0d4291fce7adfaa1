package data_test

import (
	"testing"

	"circles/data"
	"circles/data/datatest"
)

// A friend row's label is read as its relation type; an unknown label
// quarantines the row, naming the column; a label on a row of another
// kind is ignored; no label is RelUnknown.
func TestRelationLabels(t *testing.T) {
	root := t.TempDir()
	w := datatest.New(date, 1)
	for id := int64(1); id <= 4; id++ {
		w.User(id, "hangzhou")
	}
	label := func(s string) *string { return &s }
	at := w.At(1, 0)
	w.Relations = []data.RelationRow{
		{UserID: 1, OtherID: 2, Kind: "friend", CreatedAtMillis: at, Label: label("classmate")},
		{UserID: 1, OtherID: 3, Kind: "friend", CreatedAtMillis: at, Label: label("boss")},
		{UserID: 1, OtherID: 4, Kind: "contact", CreatedAtMillis: at, Label: label("family")},
		{UserID: 2, OtherID: 3, Kind: "friend", CreatedAtMillis: at, Label: label("")},
		{UserID: 3, OtherID: 4, Kind: "friend", CreatedAtMillis: at},
	}
	w.Write(t, root)
	d, err := data.LoadDims(t.Context(), root, date)
	if err != nil {
		t.Fatal(err)
	}
	want := []data.RelationType{data.RelTypeClassmate, data.RelUnknown, data.RelUnknown, data.RelUnknown}
	if len(d.Relations) != len(want) {
		t.Fatalf("%d relations read, want %d (one quarantined)", len(d.Relations), len(want))
	}
	for i, r := range d.Relations {
		if r.Label != want[i] {
			t.Errorf("relation %d (%s): label %v, want %v", i, r.Kind, r.Label, want[i])
		}
	}
	var rejected []data.Reject
	for _, r := range d.Rejects {
		if r.Table == data.TableRelations {
			rejected = append(rejected, r)
		}
	}
	if len(rejected) != 1 || rejected[0].Column != "label" || rejected[0].Reason != data.QUnknownEnum {
		t.Errorf("rejects %+v, want one unknown_enum on label", rejected)
	}
}
