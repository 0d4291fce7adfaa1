// Package synth generates realistic, deterministic worlds in the pipeline's
// input contract, with planted ground truth for a later window, so the
// pipeline can be run and its suggestion quality measured without any real
// user data. It imports data and pipeline; nothing but jobs imports it.
package synth

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"circles/data"
)

// Config sizes a generated world.
type Config struct {
	Users      int       // number of users, ≥ 50
	Days       int       // days of event partitions ending at End, ≥ 1
	Seed       uint64    // the same seed and config give the same files
	End        time.Time // last event day (midnight UTC); snapshots are dated End
	FutureDays int       // days after End covered by the planted ground truth, ≥ 1
}

// defaultEnd is the default last day of a generated world: fixed so that a
// seed alone determines the output.
var defaultEnd = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// DefaultConfig returns the configuration of the demo world.
func DefaultConfig() Config {
	return Config{Users: 2000, Days: 90, Seed: 1, End: defaultEnd, FutureDays: 14}
}

// Validate checks the configuration before any work.
func (c Config) Validate() error {
	switch {
	case c.Users < 50 || c.Users > 50_000_000:
		return fmt.Errorf("users = %d: want 50..50000000", c.Users)
	case c.Days < 1 || c.Days > 3660:
		return fmt.Errorf("days = %d: want 1..3660", c.Days)
	case c.FutureDays < 1 || c.FutureDays > 365:
		return fmt.Errorf("future days = %d: want 1..365", c.FutureDays)
	case c.End.IsZero() || !c.End.Equal(c.End.Truncate(24*time.Hour)):
		return fmt.Errorf("end = %v: want a date at midnight UTC", c.End)
	}
	return nil
}

// cities and their population weights: roughly the skew of large Chinese
// cities (Zipf with exponent 1 over the list).
var cityNames = []string{"shanghai", "beijing", "shenzhen", "guangzhou", "chengdu", "hangzhou",
	"wuhan", "xian", "nanjing", "chongqing", "suzhou", "kunming"}

const (
	userIDBase     = 100_000_000
	userIDStep     = 7 // sparse IDs: userIDBase+k*7+1 is never a user (used for bad rows)
	groupIDBase    = 500_000_000
	activityIDBase = 600_000_000
	merchantIDBase = 700_000_000
	contentIDBase  = 800_000_000
	dayMillis      = int64(24 * time.Hour / time.Millisecond)
)

type edge struct {
	a, b    int32
	family  bool
	kind    data.RelationType // how the two know each other; RelUnknown for a chance or friend-of-friend tie
	created int64             // millis; after End means a planted future friendship
}

type world struct {
	cfg        Config
	startMilli int64 // first event day
	endMilli   int64 // end of the last event day (exclusive)
	categories []string
	catTopic   []int // topic index or -1

	// users
	n         int
	city      []int32
	birthYear []int32
	minor     []bool
	ageKnown  []bool
	optOut    []bool
	status    []string
	topics    [][3]int8
	topicW    [][3]float32
	cityUsers [][]int32
	firstDay  []int // the first event day of each user: newcomers start in the window's last days

	// social graph over all edges, present and future
	edges     []edge
	adjStart  []int32
	adj       []int32 // neighbour
	adjEdge   []int32 // index into edges
	blocks    [][2]int32
	contacts  [][2]int32 // (owner, contact): entries of opt-in address books
	funds     [][]int32
	fundOwner []int32

	// merchants by (city, category)
	merchantCity []int32
	merchantCat  []int
	merchantsAt  [][][]int32 // [city][category] → merchant indices

	// groups
	groupCity    []int32
	groupTopics  [][]int8
	groupStatus  []string
	groupCreated []int64
	groupsAt     [][][]int32 // [city][topic] → groups
	members      []member    // includes future joins (joined > End)
	userGroups   [][]int32

	// activities
	actGroup  []int32
	actStart  []int64
	actStatus []string
	signups   []signup

	// content
	contentTopics [][]int8
	contentByTop  [][]int32 // [topic] → content, most popular first
}

type member struct {
	group, user int32
	joined      int64
}

type signup struct {
	activity, user int32
	at             int64
	attend         bool
}

func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// zipfPick picks an index in [0, n) with probability ∝ 1/(i+1)^s.
func zipfCDF(n int, s float64) []float64 {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return cdf
}

func pick(r *rand.Rand, cdf []float64) int {
	i, _ := slices.BinarySearch(cdf, r.Float64())
	return min(i, len(cdf)-1)
}

// count draws a small count with mean lambda cheaply: floor(λ) plus one
// more with probability frac(λ).
func count(r *rand.Rand, lambda float64) int {
	n := int(lambda)
	if r.Float64() < lambda-float64(n) {
		n++
	}
	return n
}

func (w *world) userID(u int32) int64 { return userIDBase + int64(u)*userIDStep }

func buildWorld(cfg Config) *world {
	w := &world{cfg: cfg, n: cfg.Users}
	w.startMilli = cfg.End.AddDate(0, 0, 1-cfg.Days).UnixMilli()
	w.endMilli = cfg.End.AddDate(0, 0, 1).UnixMilli()
	topicIndex := map[string]int{}
	for i, t := range data.Topics() {
		topicIndex[t] = i
	}
	ct := data.DefaultCategoryTopics()
	for _, c := range slices.Sorted(maps.Keys(ct)) {
		w.categories = append(w.categories, c)
		w.catTopic = append(w.catTopic, topicIndex[ct[c]])
	}
	for _, c := range data.GenericCategories() {
		w.categories = append(w.categories, c)
		w.catTopic = append(w.catTopic, -1)
	}
	w.buildUsers()
	w.buildGraph()
	w.buildContacts()
	w.buildMerchants()
	w.buildGroups()
	w.buildActivities()
	w.buildContent()
	return w
}

func (w *world) buildUsers() {
	defer w.buildNewcomers()
	r := newRand(w.cfg.Seed, 1)
	n := w.n
	cityCDF := zipfCDF(len(cityNames), 1)
	topicCDF := zipfCDF(len(data.Topics()), 0.6)
	year := int32(w.cfg.End.Year())
	w.city = make([]int32, n)
	w.birthYear = make([]int32, n)
	w.minor = make([]bool, n)
	w.ageKnown = make([]bool, n)
	w.optOut = make([]bool, n)
	w.status = make([]string, n)
	w.topics = make([][3]int8, n)
	w.topicW = make([][3]float32, n)
	w.cityUsers = make([][]int32, len(cityNames))
	for u := range n {
		c := int32(pick(r, cityCDF))
		w.city[u] = c
		w.cityUsers[c] = append(w.cityUsers[c], int32(u))
		age := int32(18 + r.IntN(50))
		if r.Float64() < 0.07 { // minors, 12–17
			age = int32(12 + r.IntN(6))
		}
		w.birthYear[u] = year - age - int32(r.IntN(2))
		w.minor[u] = year-w.birthYear[u] <= 18
		w.ageKnown[u] = r.Float64() > 0.005
		if !w.ageKnown[u] {
			w.minor[u] = true // the pipeline treats unknown age as minor
		}
		w.optOut[u] = r.Float64() < 0.03
		switch x := r.Float64(); {
		case x < 0.005:
			w.status[u] = "suspended"
		case x < 0.007:
			w.status[u] = "banned"
		default:
			w.status[u] = "active"
		}
		seen := map[int8]bool{}
		sum := float32(0)
		for k := range 3 {
			t := int8(pick(r, topicCDF))
			for seen[t] {
				t = int8(r.IntN(len(data.Topics())))
			}
			seen[t] = true
			w.topics[u][k] = t
			w.topicW[u][k] = float32(0.2 + r.Float64())
			sum += w.topicW[u][k]
		}
		for k := range 3 {
			w.topicW[u][k] /= sum
		}
	}
}

// buildNewcomers makes one user in twenty new: their first events fall in
// the last four days of the window, so a run sees only a few of them (the
// cold start). Their memberships and ties are as anyone's.
func (w *world) buildNewcomers() {
	r := newRand(w.cfg.Seed, 9)
	w.firstDay = make([]int, w.n)
	for u := range w.firstDay {
		if r.Float64() < 0.05 {
			w.firstDay[u] = max(0, w.cfg.Days-1-r.IntN(4))
		}
	}
}

// buildGraph makes a mostly same-city social graph from households,
// workplaces, schools, shared interests, triadic closure and a few
// cross-city ties; then dates each edge, planting some after End.
func (w *world) buildGraph() {
	r := newRand(w.cfg.Seed, 2)
	type key = uint64
	set := map[key]bool{}
	add := func(a, b int32, kind data.RelationType) {
		if a == b {
			return
		}
		if a > b {
			a, b = b, a
		}
		k := uint64(a)<<32 | uint64(b)
		if set[k] {
			return
		}
		set[k] = true
		w.edges = append(w.edges, edge{a: a, b: b, family: kind == data.RelTypeFamily, kind: kind})
	}
	for _, users := range w.cityUsers {
		perm := slices.Clone(users)
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		// households of 1–4 consecutive users in a shuffled order
		for i := 0; i < len(perm); {
			size := 1 + r.IntN(4)
			hh := perm[i:min(len(perm), i+size)]
			for x := range hh {
				for y := x + 1; y < len(hh); y++ {
					add(hh[x], hh[y], data.RelTypeFamily)
				}
			}
			if len(hh) >= 3 {
				w.funds = append(w.funds, slices.Clone(hh))
			}
			i += size
		}
		// workplaces of ~30 adults; schools of ~30 minors
		var adults, minors []int32
		for _, u := range users {
			if w.minor[u] {
				minors = append(minors, u)
			} else {
				adults = append(adults, u)
			}
		}
		for pi, pool := range [][]int32{adults, minors} {
			kind := data.RelTypeColleague
			if pi == 1 {
				kind = data.RelTypeClassmate
			}
			nUnits := max(1, len(pool)/30)
			units := make([][]int32, nUnits)
			for _, u := range pool {
				k := r.IntN(nUnits)
				units[k] = append(units[k], u)
			}
			for _, unit := range units {
				for _, u := range unit {
					for range count(r, 2.5) {
						add(u, unit[r.IntN(len(unit))], kind)
					}
				}
				if len(unit) >= 4 && r.Float64() < 0.3 { // a colleagues' fund
					f := slices.Clone(unit[:min(len(unit), 3+r.IntN(4))])
					w.funds = append(w.funds, f)
				}
			}
		}
		// shared interests: adults link with others of the same top topic
		byTopic := map[int8][]int32{}
		for _, u := range adults {
			byTopic[w.topics[u][0]] = append(byTopic[w.topics[u][0]], u)
		}
		for _, t := range slices.Sorted(maps.Keys(byTopic)) {
			pool := byTopic[t]
			for _, u := range pool {
				for range count(r, 1.0) {
					add(u, pool[r.IntN(len(pool))], data.RelTypeInterest)
				}
			}
		}
	}
	// cross-city ties (adults only: minors' ties stay in family and school)
	for range w.n / 3 {
		a, b := int32(r.IntN(w.n)), int32(r.IntN(w.n))
		if !w.minor[a] && !w.minor[b] {
			add(a, b, data.RelUnknown)
		}
	}
	w.buildAdj()
	// triadic closure: friends of friends become friends
	for u := range int32(w.n) {
		for range count(r, 1.2) {
			nb := w.neighbours(u)
			if len(nb) == 0 {
				break
			}
			f := nb[r.IntN(len(nb))]
			fnb := w.neighbours(f)
			if g := fnb[r.IntN(len(fnb))]; w.minor[g] == w.minor[u] {
				add(u, g, data.RelUnknown)
			}
		}
	}
	// date the edges: 8% of non-family edges and 4% of family edges (a
	// relative who shares a family account but has not added the user yet)
	// are planted future friendships
	future := w.cfg.End.AddDate(0, 0, 1).UnixMilli()
	for i := range w.edges {
		e := &w.edges[i]
		switch x := r.Float64(); {
		case x < 0.08 && (!e.family || x < 0.04):
			e.created = future + r.Int64N(int64(w.cfg.FutureDays)*dayMillis)
		case x < 0.18:
			e.created = w.startMilli + r.Int64N(w.endMilli-w.startMilli)
		default:
			e.created = w.startMilli - r.Int64N(3*365*dayMillis) - 1
		}
	}
	w.buildAdj()
	for _, f := range w.funds {
		w.fundOwner = append(w.fundOwner, f[0])
	}
	// a few blocks: someone in the same city, often a friend of a friend
	for range max(1, w.n/300) {
		u := int32(r.IntN(w.n))
		pool := w.cityUsers[w.city[u]]
		if v := pool[r.IntN(len(pool))]; v != u {
			w.blocks = append(w.blocks, [2]int32{u, v})
		}
	}
}

// buildContacts fills the address books of the users who sync theirs
// (two in five): most of a user's family and half of the people they know,
// friends on the platform now or later, plus a few same-city numbers of
// people they are not connected to (a landlord, a plumber). A contact can
// be of any age: the minor rule must hold regardless.
func (w *world) buildContacts() {
	r := newRand(w.cfg.Seed, 8)
	for u := range int32(w.n) {
		if r.Float64() >= 0.4 {
			continue
		}
		for i, v := range w.neighbours(u) {
			p := 0.5
			if w.edges[w.adjEdge[w.adjStart[u]+int32(i)]].family {
				p = 0.9
			}
			if r.Float64() < p {
				w.contacts = append(w.contacts, [2]int32{u, v})
			}
		}
		pool := w.cityUsers[w.city[u]]
		for range count(r, 2) {
			if v := pool[r.IntN(len(pool))]; v != u {
				w.contacts = append(w.contacts, [2]int32{u, v})
			}
		}
	}
}

func (w *world) buildAdj() {
	deg := make([]int32, w.n+1)
	for _, e := range w.edges {
		deg[e.a+1]++
		deg[e.b+1]++
	}
	for i := 1; i <= w.n; i++ {
		deg[i] += deg[i-1]
	}
	w.adjStart = deg
	w.adj = make([]int32, deg[w.n])
	w.adjEdge = make([]int32, deg[w.n])
	fill := slices.Clone(deg[:w.n])
	for i, e := range w.edges {
		w.adj[fill[e.a]], w.adjEdge[fill[e.a]] = e.b, int32(i)
		fill[e.a]++
		w.adj[fill[e.b]], w.adjEdge[fill[e.b]] = e.a, int32(i)
		fill[e.b]++
	}
}

func (w *world) neighbours(u int32) []int32 { return w.adj[w.adjStart[u]:w.adjStart[u+1]] }

func (w *world) buildMerchants() {
	r := newRand(w.cfg.Seed, 3)
	w.merchantsAt = make([][][]int32, len(cityNames))
	for c := range cityNames {
		w.merchantsAt[c] = make([][]int32, len(w.categories))
		n := max(len(w.categories), len(w.cityUsers[c])/40)
		for k := range n {
			cat := k % len(w.categories)
			if k >= len(w.categories) {
				cat = r.IntN(len(w.categories))
			}
			m := int32(len(w.merchantCity))
			w.merchantCity = append(w.merchantCity, int32(c))
			w.merchantCat = append(w.merchantCat, cat)
			w.merchantsAt[c][cat] = append(w.merchantsAt[c][cat], m)
		}
	}
}

// buildGroups creates same-city interest groups and memberships driven by
// interest and by friends already in a group (social proof), then dates the
// memberships, planting some after End.
func (w *world) buildGroups() {
	r := newRand(w.cfg.Seed, 4)
	nt := len(data.Topics())
	w.groupsAt = make([][][]int32, len(cityNames))
	for c := range cityNames {
		w.groupsAt[c] = make([][]int32, nt)
		n := max(nt/2, len(w.cityUsers[c])/60)
		for range n {
			g := int32(len(w.groupCity))
			t := int8(r.IntN(nt))
			tops := []int8{t}
			if r.Float64() < 0.3 {
				if t2 := int8(r.IntN(nt)); t2 != t {
					tops = append(tops, t2)
				}
			}
			st := "active"
			switch x := r.Float64(); {
			case x < 0.03:
				st = "suspended"
			case x < 0.04:
				st = "banned"
			case x < 0.06:
				st = "closed"
			}
			w.groupCity = append(w.groupCity, int32(c))
			w.groupTopics = append(w.groupTopics, tops)
			w.groupStatus = append(w.groupStatus, st)
			w.groupCreated = append(w.groupCreated, w.startMilli-r.Int64N(700*dayMillis))
			for _, tt := range tops {
				w.groupsAt[c][tt] = append(w.groupsAt[c][tt], g)
			}
		}
	}
	w.userGroups = make([][]int32, w.n)
	in := map[uint64]bool{}
	join := func(u, g int32) {
		k := uint64(u)<<32 | uint64(g)
		if in[k] || w.groupStatus[g] != "active" {
			return
		}
		in[k] = true
		w.userGroups[u] = append(w.userGroups[u], g)
		w.members = append(w.members, member{group: g, user: u})
	}
	// interest pass
	for u := range int32(w.n) {
		for k := range 3 {
			pool := w.groupsAt[w.city[u]][w.topics[u][k]]
			if len(pool) == 0 {
				continue
			}
			for range count(r, 1.6*float64(w.topicW[u][k])) {
				join(u, pool[r.IntN(len(pool))])
			}
		}
	}
	// social pass: friends' groups, likelier when the topic is an interest
	for u := range int32(w.n) {
		for _, f := range w.neighbours(u) {
			for _, g := range w.userGroups[f] {
				if w.groupCity[g] != w.city[u] {
					continue
				}
				p := 0.02
				if w.likes(u, w.groupTopics[g]) {
					p = 0.25
				}
				if r.Float64() < p {
					join(u, g)
				}
			}
		}
	}
	future := w.cfg.End.AddDate(0, 0, 1).UnixMilli()
	for i := range w.members {
		m := &w.members[i]
		switch x := r.Float64(); {
		case x < 0.10:
			m.joined = future + r.Int64N(int64(w.cfg.FutureDays)*dayMillis)
		case x < 0.25:
			m.joined = w.startMilli + r.Int64N(w.endMilli-w.startMilli)
		default:
			m.joined = max(w.groupCreated[m.group], w.startMilli-r.Int64N(365*dayMillis)) - 1
		}
	}
}

func (w *world) likes(u int32, topics []int8) bool {
	for _, t := range topics {
		for k := range 3 {
			if w.topics[u][k] == t {
				return true
			}
		}
	}
	return false
}

// buildActivities gives each active group a few dated activities, some in
// the two weeks after End ("nearby activities"), and plants sign-ups.
func (w *world) buildActivities() {
	r := newRand(w.cfg.Seed, 5)
	groupMembers := make([][]int32, len(w.groupCity))
	for _, m := range w.members {
		if m.joined < w.endMilli {
			groupMembers[m.group] = append(groupMembers[m.group], m.user)
		}
	}
	span := w.endMilli + 14*dayMillis - w.startMilli
	for g := range int32(len(w.groupCity)) {
		if w.groupStatus[g] != "active" {
			continue
		}
		for range count(r, 1.5+float64(len(groupMembers[g]))/20) {
			a := int32(len(w.actGroup))
			start := w.startMilli + r.Int64N(span)
			st := "active"
			if r.Float64() < 0.04 {
				st = "closed"
			}
			w.actGroup = append(w.actGroup, g)
			w.actStart = append(w.actStart, start)
			w.actStatus = append(w.actStatus, st)
			for _, u := range groupMembers[g] {
				if r.Float64() < 0.3 {
					at := start - (1+r.Int64N(10))*dayMillis + r.Int64N(dayMillis)
					w.signups = append(w.signups, signup{activity: a, user: u, at: at, attend: start < w.endMilli && r.Float64() < 0.7})
				}
			}
		}
	}
}

func (w *world) buildContent() {
	r := newRand(w.cfg.Seed, 6)
	nt := len(data.Topics())
	w.contentByTop = make([][]int32, nt)
	for c := range int32(max(200, w.n/10)) {
		t := int8(r.IntN(nt))
		tops := []int8{t}
		if r.Float64() < 0.25 {
			if t2 := int8(r.IntN(nt)); t2 != t {
				tops = append(tops, t2)
			}
		}
		w.contentTopics = append(w.contentTopics, tops)
		for _, tt := range tops {
			w.contentByTop[tt] = append(w.contentByTop[tt], c)
		}
	}
}
