package output

import (
	"fmt"
	"strings"

	"circles/data"
)

// Words renders a reason as the sentence fragment a user would see. It is
// the reference wording for the feed; the feed may localise it.
func Words(r data.Reason) string {
	plural := func(n int32, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	switch r.Code {
	case data.ReasonMutualFriends:
		return plural(r.Count, "mutual friend", "mutual friends")
	case data.ReasonSplitBill:
		return "you split " + plural(r.Count, "bill", "bills") + " together"
	case data.ReasonTransfer:
		return "you exchanged " + plural(r.Count, "transfer", "transfers")
	case data.ReasonRedPacket:
		return "you exchanged " + plural(r.Count, "red packet", "red packets")
	case data.ReasonFundGroup:
		return "you share a fund group"
	case data.ReasonFamily:
		return "you share a family account"
	case data.ReasonSameGroup:
		return fmt.Sprintf("you are both in group %d", r.RefID)
	case data.ReasonSameActivity:
		return fmt.Sprintf("you both signed up for activity %d", r.RefID)
	case data.ReasonSimilarInterest:
		return "you both like " + strings.ReplaceAll(r.Topic, "_", " ")
	case data.ReasonFriendsInGroup:
		return plural(r.Count, "of your friends is in it", "of your friends are in it")
	case data.ReasonMembersAlsoJoined:
		return plural(r.Count, fmt.Sprintf("member of your group %d is in it", r.RefID), fmt.Sprintf("members of your group %d are in it", r.RefID))
	case data.ReasonFriendsGoing:
		return plural(r.Count, "of your friends is going", "of your friends are going")
	case data.ReasonMatchesInterest:
		return "matches your interest in " + strings.ReplaceAll(r.Topic, "_", " ")
	case data.ReasonActiveGroup:
		return plural(r.Count, "activity", "activities") + " recently or coming up"
	case data.ReasonPopularNearby:
		return plural(r.Count, "person", "people") + " signed up"
	case data.ReasonInContacts:
		return "in your contacts"
	case data.ReasonMayBeFamily:
		return "you may be family"
	case data.ReasonMayBeColleagues:
		return "you may be colleagues"
	case data.ReasonMayBeClassmates:
		return "you may be classmates"
	case data.ReasonMayShareCircle:
		return "you may share an interest circle"
	case data.ReasonStartsSoon:
		if r.Count == 0 {
			return "starts today"
		}
		return "starts in " + plural(r.Count, "day", "days")
	}
	return r.Code
}

// ReasonWords joins the words of several reasons.
func ReasonWords(rs []data.Reason) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = Words(r)
	}
	return strings.Join(parts, "; ")
}
