package data

import (
	"context"
	"errors"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Membership says that a user belongs to a group (dense indices).
type Membership struct {
	Group, User    int32
	JoinedAtMillis int64
}

// Relation is a validated row of the relations snapshot (dense user indices).
type Relation struct {
	User, Other     int32
	Kind            RelationKind
	CreatedAtMillis int64
	Label           RelationType // how the user says they know the other, on friend rows
}

// Dims holds the validated dimension snapshots of one run date, with every
// external ID interned to a dense index. Slices named Xxx<Attr> are indexed
// by the dense index of Xxx. Dims is read-only after LoadDims returns and is
// then safe for concurrent use.
type Dims struct {
	Date time.Time // the run date (midnight UTC)

	Cities, Topics, Categories Dict

	Users      Index
	UserCity   []int32
	UserMinor  []bool // true for minors and for users of unknown age
	UserOptOut []bool
	UserStatus []Status

	Groups       Index
	GroupCity    []int32
	GroupTopics  [][]int32
	GroupStatus  []Status
	GroupCreated []int64 // millis

	Members []Membership

	Activities     Index
	ActivityGroup  []int32
	ActivityCity   []int32
	ActivityStart  []int64 // millis
	ActivityStatus []Status

	Merchants        Index
	MerchantCategory []int32
	MerchantCity     []int32
	MerchantTopics   [][]int32 // the optional topics column; empty when absent

	Contents      Index
	ContentTopics [][]int32

	Relations []Relation

	Stats   []TableStats
	Rejects []Reject
	// Contract is what the input tree declares of itself (absent tables).
	Contract InputContract

	// withdrawn holds what every users row with an ID says against
	// suggesting the user (opted out, not active), used, duplicate or
	// quarantined alike; LoadDims applies it once every users file is read.
	withdrawn []withdrawal
}

// Eligible reports whether user u may receive suggestions, appear in
// them, and shape other users' suggestions: an active account that has not
// opted out of social features. It is the privacy boundary every driver
// applies before any count, degree or score can see a user.
func (d *Dims) Eligible(u int32) bool {
	return d.UserStatus[u] == StatusActive && !d.UserOptOut[u]
}

// withdrawal is one users row's safety facts about a user.
type withdrawal struct {
	id     int64
	optOut bool
	status Status
}

// spec names a column a loader reads.
type spec struct {
	name     string
	kind     colKind
	required bool
}

// scanRowGroups opens path, resolves the columns in specs and calls each for
// every row group with the resolved columns in spec order and the file row
// number of the group's first row. Optional columns that are absent resolve
// to nil.
func scanRowGroups(path string, specs []spec, each func(p *parquetFile, rg parquet.RowGroup, base int64, cols []*column) error) (err error) {
	defer containDecoder(path, &err)
	p, err := openParquet(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	cols := make([]*column, len(specs))
	for i, s := range specs {
		if cols[i], err = p.resolve(s.name, s.kind, s.required); err != nil {
			return err
		}
	}
	var base int64
	for _, rg := range p.pf.RowGroups() {
		if err := each(p, rg, base, cols); err != nil {
			return err
		}
		base += rg.NumRows()
	}
	return nil
}

func parseStatus(b []byte) (int32, bool) { s, ok := ParseStatus(b); return int32(s), ok }

// nonEmpty accepts any non-empty string, for free-text columns like city.
func nonEmpty(intern func([]byte) int32) func([]byte) (int32, bool) {
	return func(b []byte) (int32, bool) {
		if len(b) == 0 {
			return 0, false
		}
		return intern(b), true
	}
}

// stringCode classifies a code from parquetFile.codes: -1 null, -2 rejected.
func stringCode(q *quarantine, row int64, col string, code int32, rejectReason string) bool {
	switch code {
	case -1:
		q.reject(row, col, QNull)
		return false
	case -2:
		q.reject(row, col, rejectReason)
		return false
	}
	return true
}

// LoadDims reads the newest complete snapshot at or before date of every
// dimension table under root. Rows that break the contract are quarantined
// into Dims.Rejects and counted in Dims.Stats; a missing snapshot returns an
// error wrapping ErrNoPartition, an unreadable file one wrapping ErrBadInput.
// An interrupt is seen between files.
func LoadDims(ctx context.Context, root string, date time.Time) (*Dims, error) {
	contract, err := ReadInputContract(Local{}, root)
	if err != nil {
		return nil, err
	}
	d := &Dims{Date: date, Contract: contract}
	loaders := []struct {
		table string
		load  func(*Dims, string, *quarantine) error
	}{
		{TableUsers, loadUsers},
		{TableGroups, loadGroups},
		{TableMemberships, loadMemberships},
		{TableActivities, loadActivities},
		{TableMerchants, loadMerchants},
		{TableContent, loadContent},
		{TableRelations, loadRelations},
	}
	for _, l := range loaders {
		if contract.Absent(l.table) {
			d.Stats = append(d.Stats, TableStats{Table: l.table, Quarantined: map[string]int64{}, Absent: true})
			continue
		}
		s, err := snapshot(Local{}, root, l.table, date)
		if err != nil {
			return nil, err
		}
		st := NewStats(l.table)
		st.Files = s.Files
		for _, f := range s.Files {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			q := &quarantine{table: l.table, file: f, stats: &st}
			if err := l.load(d, f, q); err != nil {
				return nil, err
			}
			d.Rejects = append(d.Rejects, q.rejects...)
		}
		d.Stats = append(d.Stats, st)
		if l.table == TableUsers {
			d.applyWithdrawn()
		}
	}
	return d, nil
}

// applyWithdrawn applies to every known user what any users row, used,
// duplicate or quarantined, says against suggesting them: of two facts
// that disagree, the one that protects the user wins.
func (d *Dims) applyWithdrawn() {
	for _, w := range d.withdrawn {
		if u := d.Users.Lookup(w.id); u >= 0 {
			d.UserOptOut[u] = d.UserOptOut[u] || w.optOut
			d.UserStatus[u] = stricter(d.UserStatus[u], w.status)
		}
	}
	d.withdrawn = nil
}

func loadUsers(d *Dims, path string, q *quarantine) error {
	specs := []spec{{"user_id", colInt64, true}, {"city", colString, true}, {"birth_year", colInt32, false},
		{"is_minor", colBool, false}, {"social_opt_out", colBool, true}, {"status", colString, true}}
	return scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		buf := make([]parquet.Value, valueBufSize)
		ids, idOK := make([]int64, n), make([]bool, n)
		by, byOK := make([]int64, n), make([]bool, n)
		minor, minorOK := make([]bool, n), make([]bool, n)
		opt, optOK := make([]bool, n), make([]bool, n)
		city, status := make([]int32, n), make([]int32, n)
		if err := errors.Join(
			p.int64s(rg, c[0], buf, ids, idOK),
			p.codes(rg, c[1], buf, city, nonEmpty(d.Cities.Intern)),
			p.int64s(rg, c[2], buf, by, byOK),
			p.bools(rg, c[3], buf, minor, minorOK),
			p.bools(rg, c[4], buf, opt, optOK),
			p.codes(rg, c[5], buf, status, parseStatus),
		); err != nil {
			return err
		}
		year := int64(d.Date.Year())
		for i := range n {
			row := base + int64(i)
			q.stats.Read++
			if idOK[i] {
				w := withdrawal{id: ids[i], optOut: optOK[i] && opt[i], status: StatusActive}
				if status[i] >= 0 {
					w.status = Status(status[i])
				}
				if w.optOut || w.status != StatusActive {
					// Whatever else is wrong with the row, a user it says
					// opted out or not active stays so (see applyWithdrawn).
					d.withdrawn = append(d.withdrawn, w)
				}
			}
			switch {
			case !idOK[i]:
				q.reject(row, "user_id", QNull)
				continue
			case !stringCode(q, row, "city", city[i], QNull):
				continue
			case !optOK[i]:
				q.reject(row, "social_opt_out", QNull)
				continue
			case !stringCode(q, row, "status", status[i], QUnknownEnum):
				continue
			case byOK[i] && (by[i] < 1900 || by[i] > year):
				q.reject(row, "birth_year", QBadBirthYear)
				continue
			}
			// Unknown age counts as minor: the safe side of the minors rule.
			// Known birth year: anyone who can still be 17 on the run date is
			// a minor (year difference of 18 or less).
			isMinor := true
			switch {
			case minorOK[i]:
				isMinor = minor[i]
			case byOK[i]:
				isMinor = year-by[i] <= 18
			}
			if u, added := d.Users.Add(ids[i]); !added {
				// A repeated user is quarantined, but where it disagrees
				// with the first row on a safety fact, the fact that
				// protects the user wins: any row that says minor holds
				// (opt-outs and statuses: applyWithdrawn).
				q.reject(row, "user_id", QDuplicate)
				d.UserMinor[u] = d.UserMinor[u] || isMinor
				continue
			}
			q.stats.Used++
			d.UserCity = append(d.UserCity, city[i])
			d.UserMinor = append(d.UserMinor, isMinor)
			d.UserOptOut = append(d.UserOptOut, opt[i])
			d.UserStatus = append(d.UserStatus, Status(status[i]))
		}
		return nil
	})
}

func loadGroups(d *Dims, path string, q *quarantine) error {
	specs := []spec{{"group_id", colInt64, true}, {"city", colString, true}, {"topics", colStringList, true},
		{"status", colString, true}, {"created_at", colTime, true}}
	return scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		buf := make([]parquet.Value, valueBufSize)
		ids, idOK := make([]int64, n), make([]bool, n)
		city, status := make([]int32, n), make([]int32, n)
		topics := make([][]int32, n)
		created, createdOK := make([]int64, n), make([]bool, n)
		if err := errors.Join(
			p.int64s(rg, c[0], buf, ids, idOK),
			p.codes(rg, c[1], buf, city, nonEmpty(d.Cities.Intern)),
			p.stringLists(rg, c[2], buf, topics, d.Topics.Intern),
			p.codes(rg, c[3], buf, status, parseStatus),
			p.int64s(rg, c[4], buf, created, createdOK),
		); err != nil {
			return err
		}
		for i := range n {
			row := base + int64(i)
			q.stats.Read++
			switch {
			case !idOK[i]:
				q.reject(row, "group_id", QNull)
				continue
			case !stringCode(q, row, "city", city[i], QNull):
				continue
			case !stringCode(q, row, "status", status[i], QUnknownEnum):
				continue
			case !createdOK[i]:
				q.reject(row, "created_at", QNull)
				continue
			}
			if g, added := d.Groups.Add(ids[i]); !added {
				q.reject(row, "group_id", QDuplicate)
				d.GroupStatus[g] = stricter(d.GroupStatus[g], Status(status[i])) // as for users
				continue
			}
			q.stats.Used++
			d.GroupCity = append(d.GroupCity, city[i])
			d.GroupTopics = append(d.GroupTopics, dedupCodes(topics[i]))
			d.GroupStatus = append(d.GroupStatus, Status(status[i]))
			d.GroupCreated = append(d.GroupCreated, created[i])
		}
		return nil
	})
}

func loadMemberships(d *Dims, path string, q *quarantine) error {
	specs := []spec{{"group_id", colInt64, true}, {"user_id", colInt64, true}, {"joined_at", colTime, true}}
	return scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		buf := make([]parquet.Value, valueBufSize)
		gid, gOK := make([]int64, n), make([]bool, n)
		uid, uOK := make([]int64, n), make([]bool, n)
		at, atOK := make([]int64, n), make([]bool, n)
		if err := errors.Join(p.int64s(rg, c[0], buf, gid, gOK), p.int64s(rg, c[1], buf, uid, uOK), p.int64s(rg, c[2], buf, at, atOK)); err != nil {
			return err
		}
		for i := range n {
			row := base + int64(i)
			q.stats.Read++
			g, u := d.Groups.Lookup(gid[i]), d.Users.Lookup(uid[i])
			switch {
			case !gOK[i] || !uOK[i] || !atOK[i]:
				q.reject(row, firstNull([]string{"group_id", "user_id", "joined_at"}, gOK[i], uOK[i], atOK[i]), QNull)
			case g < 0:
				q.reject(row, "group_id", QUnknownTarget)
			case u < 0:
				q.reject(row, "user_id", QUnknownUser)
			default:
				q.stats.Used++
				d.Members = append(d.Members, Membership{Group: g, User: u, JoinedAtMillis: at[i]})
			}
		}
		return nil
	})
}

func loadActivities(d *Dims, path string, q *quarantine) error {
	specs := []spec{{"activity_id", colInt64, true}, {"group_id", colInt64, true}, {"city", colString, true},
		{"start_time", colTime, true}, {"status", colString, true}}
	return scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		buf := make([]parquet.Value, valueBufSize)
		ids, idOK := make([]int64, n), make([]bool, n)
		gid, gOK := make([]int64, n), make([]bool, n)
		city, status := make([]int32, n), make([]int32, n)
		start, startOK := make([]int64, n), make([]bool, n)
		if err := errors.Join(
			p.int64s(rg, c[0], buf, ids, idOK),
			p.int64s(rg, c[1], buf, gid, gOK),
			p.codes(rg, c[2], buf, city, nonEmpty(d.Cities.Intern)),
			p.int64s(rg, c[3], buf, start, startOK),
			p.codes(rg, c[4], buf, status, parseStatus),
		); err != nil {
			return err
		}
		for i := range n {
			row := base + int64(i)
			q.stats.Read++
			switch {
			case !idOK[i] || !gOK[i] || !startOK[i]:
				q.reject(row, firstNull([]string{"activity_id", "group_id", "start_time"}, idOK[i], gOK[i], startOK[i]), QNull)
				continue
			case d.Groups.Lookup(gid[i]) < 0:
				q.reject(row, "group_id", QUnknownTarget)
				continue
			case !stringCode(q, row, "city", city[i], QNull):
				continue
			case !stringCode(q, row, "status", status[i], QUnknownEnum):
				continue
			}
			if a, added := d.Activities.Add(ids[i]); !added {
				q.reject(row, "activity_id", QDuplicate)
				d.ActivityStatus[a] = stricter(d.ActivityStatus[a], Status(status[i])) // as for users
				continue
			}
			q.stats.Used++
			d.ActivityGroup = append(d.ActivityGroup, d.Groups.Lookup(gid[i]))
			d.ActivityCity = append(d.ActivityCity, city[i])
			d.ActivityStart = append(d.ActivityStart, start[i])
			d.ActivityStatus = append(d.ActivityStatus, Status(status[i]))
		}
		return nil
	})
}

func loadMerchants(d *Dims, path string, q *quarantine) error {
	specs := []spec{{"merchant_id", colInt64, true}, {"category", colString, true}, {"city", colString, true}, {"topics", colStringList, false}}
	return scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		buf := make([]parquet.Value, valueBufSize)
		ids, idOK := make([]int64, n), make([]bool, n)
		cat, city := make([]int32, n), make([]int32, n)
		topics := make([][]int32, n)
		if err := errors.Join(
			p.int64s(rg, c[0], buf, ids, idOK),
			p.codes(rg, c[1], buf, cat, nonEmpty(d.Categories.Intern)),
			p.codes(rg, c[2], buf, city, nonEmpty(d.Cities.Intern)),
			p.stringLists(rg, c[3], buf, topics, d.Topics.Intern),
		); err != nil {
			return err
		}
		for i := range n {
			row := base + int64(i)
			q.stats.Read++
			switch {
			case !idOK[i]:
				q.reject(row, "merchant_id", QNull)
				continue
			case !stringCode(q, row, "category", cat[i], QNull), !stringCode(q, row, "city", city[i], QNull):
				continue
			}
			if _, added := d.Merchants.Add(ids[i]); !added {
				q.reject(row, "merchant_id", QDuplicate)
				continue
			}
			q.stats.Used++
			d.MerchantCategory = append(d.MerchantCategory, cat[i])
			d.MerchantCity = append(d.MerchantCity, city[i])
			d.MerchantTopics = append(d.MerchantTopics, dedupCodes(topics[i]))
		}
		return nil
	})
}

func loadContent(d *Dims, path string, q *quarantine) error {
	specs := []spec{{"content_id", colInt64, true}, {"topics", colStringList, true}}
	return scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		buf := make([]parquet.Value, valueBufSize)
		ids, idOK := make([]int64, n), make([]bool, n)
		topics := make([][]int32, n)
		if err := errors.Join(p.int64s(rg, c[0], buf, ids, idOK), p.stringLists(rg, c[1], buf, topics, d.Topics.Intern)); err != nil {
			return err
		}
		for i := range n {
			row := base + int64(i)
			q.stats.Read++
			if !idOK[i] {
				q.reject(row, "content_id", QNull)
				continue
			}
			if _, added := d.Contents.Add(ids[i]); !added {
				q.reject(row, "content_id", QDuplicate)
				continue
			}
			q.stats.Used++
			d.ContentTopics = append(d.ContentTopics, dedupCodes(topics[i]))
		}
		return nil
	})
}

func loadRelations(d *Dims, path string, q *quarantine) error {
	specs := []spec{{"user_id", colInt64, true}, {"other_id", colInt64, true}, {"kind", colString, true}, {"created_at", colTime, true}, {"label", colString, false}}
	parseKind := func(b []byte) (int32, bool) { k, ok := ParseRelationKind(b); return int32(k), ok }
	parseLabel := func(b []byte) (int32, bool) { t, ok := ParseRelationType(b); return int32(t), ok }
	return scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		buf := make([]parquet.Value, valueBufSize)
		uid, uOK := make([]int64, n), make([]bool, n)
		oid, oOK := make([]int64, n), make([]bool, n)
		kind := make([]int32, n)
		at, atOK := make([]int64, n), make([]bool, n)
		label := make([]int32, n)
		if err := errors.Join(
			p.int64s(rg, c[0], buf, uid, uOK),
			p.int64s(rg, c[1], buf, oid, oOK),
			p.codes(rg, c[2], buf, kind, parseKind),
			p.int64s(rg, c[3], buf, at, atOK),
			p.codes(rg, c[4], buf, label, parseLabel),
		); err != nil {
			return err
		}
		for i := range n {
			row := base + int64(i)
			q.stats.Read++
			u, o := d.Users.Lookup(uid[i]), d.Users.Lookup(oid[i])
			switch {
			case !uOK[i] || !oOK[i] || !atOK[i]:
				q.reject(row, firstNull([]string{"user_id", "other_id", "created_at"}, uOK[i], oOK[i], atOK[i]), QNull)
			case !stringCode(q, row, "kind", kind[i], QUnknownEnum):
			case label[i] == -2:
				q.reject(row, "label", QUnknownEnum)
			case u < 0:
				q.reject(row, "user_id", QUnknownUser)
			case o < 0:
				q.reject(row, "other_id", QUnknownUser)
			case u == o:
				q.reject(row, "other_id", QSelf)
			default:
				q.stats.Used++
				r := Relation{User: u, Other: o, Kind: RelationKind(kind[i]), CreatedAtMillis: at[i]}
				if r.Kind == RelFriend && label[i] > 0 {
					r.Label = RelationType(label[i])
				}
				d.Relations = append(d.Relations, r)
			}
		}
		return nil
	})
}

// stricter returns the status of two rows for one account, group or
// activity that protects users more: any status but active wins over
// active, and of two others the first stands.
func stricter(a, b Status) Status {
	if a == StatusActive {
		return b
	}
	return a
}

// firstNull names the first column whose ok flag is false.
func firstNull(names []string, ok ...bool) string {
	for i, v := range ok {
		if !v {
			return names[i]
		}
	}
	return names[0]
}

// dedupCodes drops repeated codes, keeping first occurrences, and copies the
// result so it does not alias a scan buffer.
func dedupCodes(in []int32) []int32 {
	out := make([]int32, 0, len(in))
	for _, c := range in {
		dup := false
		for _, o := range out {
			dup = dup || o == c
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out
}
