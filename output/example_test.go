package output_test

import (
	"fmt"

	"circles/data"
	"circles/output"
)

func ExampleReasonWords() {
	fmt.Println(output.ReasonWords([]data.Reason{
		{Code: data.ReasonMutualFriends, Count: 3},
		{Code: data.ReasonSplitBill, Count: 1},
		{Code: data.ReasonMatchesInterest, Topic: "outdoor_gear"},
	}))
	// Output: 3 mutual friends; you split 1 bill together; matches your interest in outdoor gear
}
