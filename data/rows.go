package data

// On-disk row types. The struct tags are the Parquet schema of each table;
// docs/contract.md is the prose version and the two must agree (the schema
// test in this package checks the column names). Input rows are written by
// the generator and the test fixtures; the pipeline itself never reads them
// through these structs but scans the columns it needs (see scan.go), so a
// file written by another tool with extra columns, another column order or a
// compatible physical type reads the same.

// Transaction is one leg of a money movement: a row of the transactions table.
type Transaction struct {
	TxnID       int64   `parquet:"txn_id"`
	TimeMillis  int64   `parquet:"time,timestamp(millisecond)"`
	PayerID     int64   `parquet:"payer_id"`
	PayeeID     int64   `parquet:"payee_id"`
	PayeeType   string  `parquet:"payee_type,dict"`
	Kind        string  `parquet:"kind,dict"`
	AmountCents int64   `parquet:"amount_cents"`
	Category    *string `parquet:"category,optional,dict"`
	City        *string `parquet:"city,optional,dict"`
	Ref         *int64  `parquet:"ref,optional"`
}

// Interaction is one user action: a row of the interactions table.
type Interaction struct {
	EventID    int64  `parquet:"event_id"`
	TimeMillis int64  `parquet:"time,timestamp(millisecond)"`
	UserID     int64  `parquet:"user_id"`
	TargetKind string `parquet:"target_kind,dict"`
	TargetID   int64  `parquet:"target_id"`
	Action     string `parquet:"action,dict"`
	// Weight scales the action (a play count, a rating); nil means 1. The
	// generator leaves it nil; importers of public datasets set it.
	Weight *float32 `parquet:"weight,optional"`
}

// UserRow is a row of the users snapshot.
type UserRow struct {
	UserID       int64  `parquet:"user_id"`
	City         string `parquet:"city,dict"`
	BirthYear    *int32 `parquet:"birth_year,optional"`
	IsMinor      *bool  `parquet:"is_minor,optional"`
	SocialOptOut bool   `parquet:"social_opt_out"`
	Status       string `parquet:"status,dict"`
}

// GroupRow is a row of the groups snapshot.
type GroupRow struct {
	GroupID         int64    `parquet:"group_id"`
	City            string   `parquet:"city,dict"`
	Topics          []string `parquet:"topics,list"`
	Status          string   `parquet:"status,dict"`
	CreatedAtMillis int64    `parquet:"created_at,timestamp(millisecond)"`
}

// MembershipRow is a row of the memberships snapshot: user_id belongs to
// group_id.
type MembershipRow struct {
	GroupID        int64 `parquet:"group_id"`
	UserID         int64 `parquet:"user_id"`
	JoinedAtMillis int64 `parquet:"joined_at,timestamp(millisecond)"`
}

// ActivityRow is a row of the activities snapshot.
type ActivityRow struct {
	ActivityID  int64  `parquet:"activity_id"`
	GroupID     int64  `parquet:"group_id"`
	City        string `parquet:"city,dict"`
	StartMillis int64  `parquet:"start_time,timestamp(millisecond)"`
	Status      string `parquet:"status,dict"`
}

// MerchantRow is a row of the merchants snapshot.
type MerchantRow struct {
	MerchantID int64  `parquet:"merchant_id"`
	Category   string `parquet:"category,dict"`
	City       string `parquet:"city,dict"`
	// Topics, when present and not empty, are the merchant's own interest
	// topics (a business's categories); otherwise its category maps to one.
	Topics []string `parquet:"topics,list,optional"`
}

// ContentRow is a row of the content snapshot.
type ContentRow struct {
	ContentID int64    `parquet:"content_id"`
	Topics    []string `parquet:"topics,list"`
}

// RelationRow is a row of the relations snapshot.
type RelationRow struct {
	UserID          int64  `parquet:"user_id"`
	OtherID         int64  `parquet:"other_id"`
	Kind            string `parquet:"kind,dict"`
	CreatedAtMillis int64  `parquet:"created_at,timestamp(millisecond)"`
	// Label is how the user says they know a friend (family, colleague,
	// classmate, interest), on friend rows; nil or empty when not given.
	Label *string `parquet:"label,optional,dict"`
}

// Outputs.

// TopicWeight is one interpretable interest: a topic and its weight in [0, 1].
type TopicWeight struct {
	Topic  string  `parquet:"topic,dict"`
	Weight float32 `parquet:"weight"`
}

// UserInterest is a row of user_interests.parquet.
type UserInterest struct {
	UserID    int64         `parquet:"user_id"`
	Vector    []float32     `parquet:"vector,list"`
	TopTopics []TopicWeight `parquet:"top_topics,list"`
}

// ItemFactor is a row of item_factors.parquet: the interest model's latent
// vector of one item. Kind is the item's table: group, activity, content
// or merchant.
type ItemFactor struct {
	Kind   string    `parquet:"kind,dict"`
	ItemID int64     `parquet:"item_id"`
	Vector []float32 `parquet:"vector,list"`
}

// Reason is one machine-readable reason for a suggestion. Code names the
// reason (see the Reason* constants); Count, RefID and Topic carry its
// parameters, zero or empty when the code takes none. Reasons never name a
// third party's transactions.
type Reason struct {
	Code  string `parquet:"code,dict"`
	Count int32  `parquet:"count"`
	RefID int64  `parquet:"ref_id"`
	Topic string `parquet:"topic,dict"`
}

// GroupSuggestion is a row of group_suggestions.parquet.
type GroupSuggestion struct {
	UserID  int64    `parquet:"user_id"`
	GroupID int64    `parquet:"group_id"`
	Rank    int32    `parquet:"rank"`
	Score   float32  `parquet:"score"`
	Reasons []Reason `parquet:"reasons,list"`
}

// ActivitySuggestion is a row of activity_suggestions.parquet.
type ActivitySuggestion struct {
	UserID     int64    `parquet:"user_id"`
	ActivityID int64    `parquet:"activity_id"`
	Rank       int32    `parquet:"rank"`
	Score      float32  `parquet:"score"`
	Reasons    []Reason `parquet:"reasons,list"`
}

// FriendSuggestion is a row of friend_suggestions.parquet.
type FriendSuggestion struct {
	UserID      int64    `parquet:"user_id"`
	CandidateID int64    `parquet:"candidate_id"`
	Rank        int32    `parquet:"rank"`
	Score       float32  `parquet:"score"`
	Reasons     []Reason `parquet:"reasons,list"`
	// Relation is the predicted relation type of the tie, the most likely
	// of the four whose probabilities follow; empty and all 0 when the run
	// has no relation-type model.
	Relation   string  `parquet:"relation,dict"`
	PFamily    float32 `parquet:"p_family"`
	PColleague float32 `parquet:"p_colleague"`
	PClassmate float32 `parquet:"p_classmate"`
	PInterest  float32 `parquet:"p_interest"`
}

// Suggestions files are sorted by user, then rank; interests by user.
var bySuggestion = []string{"user_id", "rank"}

func (GroupSuggestion) SortedBy() []string    { return bySuggestion }
func (ActivitySuggestion) SortedBy() []string { return bySuggestion }
func (FriendSuggestion) SortedBy() []string   { return bySuggestion }
func (UserInterest) SortedBy() []string       { return []string{"user_id"} }

// Reject is a row of rejects.parquet: one quarantined input row.
// Its column names are ones a SQL user can type unquoted: "table" and
// "column" are reserved words in DuckDB and PostgreSQL.
type Reject struct {
	Table  string `parquet:"source_table,dict"`
	File   string `parquet:"file,dict"`
	Row    int64  `parquet:"row"`
	Column string `parquet:"column_name,dict"`
	Reason string `parquet:"reason,dict"`
}

// Reason codes. Friend reasons only ever describe something the viewing user
// took part in (a bill they split, a group they are in) or an aggregate
// ("3 mutual friends").
const (
	ReasonMutualFriends     = "mutual_friends"      // Count: mutual friends
	ReasonSplitBill         = "split_bill"          // Count: bills you split together
	ReasonTransfer          = "transferred"         // Count: transfers between you
	ReasonRedPacket         = "red_packet"          // Count: red packets between you
	ReasonFundGroup         = "fund_group"          // Count: shared funds you are both in
	ReasonFamily            = "family_account"      // you share a family account
	ReasonSameGroup         = "same_group"          // RefID: a group you are both in
	ReasonSameActivity      = "same_activity"       // RefID: an activity you both signed up for
	ReasonSimilarInterest   = "similar_interests"   // Topic: an interest you share
	ReasonFriendsInGroup    = "friends_in_group"    // Count: your friends in the group
	ReasonMembersAlsoJoined = "members_also_joined" // RefID: a group of yours; Count: its members in the group
	ReasonFriendsGoing      = "friends_going"       // Count: your friends signed up for the activity
	ReasonMatchesInterest   = "matches_interest"    // Topic: your interest it matches
	ReasonActiveGroup       = "active_group"        // Count: activities in the last 30 days
	ReasonPopularNearby     = "popular_nearby"      // Count: sign-ups so far
	ReasonStartsSoon        = "starts_soon"         // Count: days until it starts
	ReasonInContacts        = "in_contacts"         // the candidate is in your own address book
	ReasonMayBeFamily       = "may_be_family"       // the relation-type model's most likely type, when it is sure enough
	ReasonMayBeColleagues   = "may_be_colleagues"
	ReasonMayBeClassmates   = "may_be_classmates"
	ReasonMayShareCircle    = "may_share_interest_circle"
)
