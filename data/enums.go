package data

// The enumerations of the input contract. Each is stored on disk as a
// lowercase string and held in memory as a small integer code. Parsing takes
// the raw column bytes so that scanning allocates nothing per row; an unknown
// value parses to ok=false and the row is quarantined with
// [ReasonUnknownEnum].

// TxKind is the kind of a transaction leg.
type TxKind uint8

// Transaction kinds. Payment and Refund go to merchants; the rest move money
// between users and are the money ties tie strength is built from.
const (
	TxPayment   TxKind = iota // user pays a merchant
	TxTransfer                // user sends money to a user
	TxAASplit                 // one leg of a bill split; legs share Ref
	TxRedPacket               // gift from a user to a user
	TxFundGroup               // contribution to a shared fund; legs share Ref
	TxRefund                  // merchant refunds a user
	numTxKinds
)

var txKindNames = [numTxKinds]string{"payment", "transfer", "aa_split", "red_packet", "fund_group", "refund"}

func (k TxKind) String() string { return enumName(txKindNames[:], int(k)) }

// ParseTxKind parses the on-disk name of a transaction kind.
func ParseTxKind(b []byte) (TxKind, bool) {
	i, ok := enumIndex(txKindNames[:], b)
	return TxKind(i), ok
}

// PayeeType says whether a transaction's payee_id names a user or a merchant.
type PayeeType uint8

// Payee types.
const (
	PayeeUser PayeeType = iota
	PayeeMerchant
	numPayeeTypes
)

var payeeTypeNames = [numPayeeTypes]string{"user", "merchant"}

func (p PayeeType) String() string { return enumName(payeeTypeNames[:], int(p)) }

// ParsePayeeType parses the on-disk name of a payee type.
func ParsePayeeType(b []byte) (PayeeType, bool) {
	i, ok := enumIndex(payeeTypeNames[:], b)
	return PayeeType(i), ok
}

// TargetKind is what an interaction acts on.
type TargetKind uint8

// Interaction target kinds.
const (
	TargetContent TargetKind = iota
	TargetGroup
	TargetActivity
	TargetUser
	TargetMerchant
	numTargetKinds
)

var targetKindNames = [numTargetKinds]string{"content", "group", "activity", "user", "merchant"}

func (k TargetKind) String() string { return enumName(targetKindNames[:], int(k)) }

// ParseTargetKind parses the on-disk name of a target kind.
func ParseTargetKind(b []byte) (TargetKind, bool) {
	i, ok := enumIndex(targetKindNames[:], b)
	return TargetKind(i), ok
}

// Action is what a user did in an interaction.
type Action uint8

// Interaction actions. Dismiss, Hide, Report and Block are explicit
// negatives; Leave ends a membership.
const (
	ActView Action = iota
	ActLike
	ActComment
	ActFavorite
	ActShare
	ActJoin
	ActLeave
	ActPost
	ActSignup
	ActAttend
	ActDismiss
	ActHide
	ActReport
	ActBlock
	NumActions
)

var actionNames = [NumActions]string{
	"view", "like", "comment", "favorite", "share", "join", "leave", "post",
	"signup", "attend", "dismiss", "hide", "report", "block",
}

func (a Action) String() string { return enumName(actionNames[:], int(a)) }

// ParseAction parses the on-disk name of an action.
func ParseAction(b []byte) (Action, bool) {
	i, ok := enumIndex(actionNames[:], b)
	return Action(i), ok
}

// Negative reports whether the action is an explicit negative signal.
func (a Action) Negative() bool {
	return a == ActDismiss || a == ActHide || a == ActReport || a == ActBlock
}

// Status is the moderation state of an account or a group.
type Status uint8

// Statuses. Only Active accounts and groups are ever suggested or receive
// suggestions.
const (
	StatusActive Status = iota
	StatusSuspended
	StatusBanned
	StatusClosed // a group its owner closed, or a deleted account
	numStatuses
)

var statusNames = [numStatuses]string{"active", "suspended", "banned", "closed"}

func (s Status) String() string { return enumName(statusNames[:], int(s)) }

// ParseStatus parses the on-disk name of a status.
func ParseStatus(b []byte) (Status, bool) {
	i, ok := enumIndex(statusNames[:], b)
	return Status(i), ok
}

// RelationKind is the kind of a user–user relation in the relations snapshot.
type RelationKind uint8

// Relation kinds. Friend, Contact and Family are symmetric in meaning even
// when only one direction is listed; Block and Report are directed but apply
// both ways. The snapshot is the record of safety state: a block or report
// it lists holds however old it is, until upstream withdraws it.
const (
	RelFriend RelationKind = iota
	RelContact
	RelBlock
	RelFamily
	RelReport
	numRelationKinds
)

var relationKindNames = [numRelationKinds]string{"friend", "contact", "block", "family", "report"}

func (k RelationKind) String() string { return enumName(relationKindNames[:], int(k)) }

// ParseRelationKind parses the on-disk name of a relation kind.
func ParseRelationKind(b []byte) (RelationKind, bool) {
	i, ok := enumIndex(relationKindNames[:], b)
	return RelationKind(i), ok
}

// RelationType is how two people know each other: what a user declares
// of a friend (the relations snapshot's optional label column) and what
// the friend ranker predicts for a suggested tie. RelUnknown (the zero
// value) is no label.
type RelationType uint8

// Relation types.
const (
	RelUnknown RelationType = iota
	RelTypeFamily
	RelTypeColleague
	RelTypeClassmate
	RelTypeInterest
	NumRelationTypes
)

var relationTypeNames = [NumRelationTypes]string{"", "family", "colleague", "classmate", "interest"}

func (t RelationType) String() string { return enumName(relationTypeNames[:], int(t)) }

// ParseRelationType parses a label; the empty string is RelUnknown.
func ParseRelationType(b []byte) (RelationType, bool) {
	i, ok := enumIndex(relationTypeNames[:], b)
	return RelationType(i), ok
}

func enumIndex(names []string, b []byte) (int, bool) {
	for i, n := range names {
		if string(b) == n {
			return i, true
		}
	}
	return 0, false
}

func enumName(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return "unknown"
	}
	return names[i]
}
