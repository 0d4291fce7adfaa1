package data

// Topics returns the interest taxonomy the generator draws from. The pipeline
// itself takes topics from the data (group and content topics, merchant
// categories through CategoryTopics), so a topic upstream adds later needs
// no code change.
func Topics() []string {
	return []string{
		"hiking", "cycling", "camping", "fishing", "running", "photography",
		"board_games", "food", "pets", "parenting", "music", "reading", "yoga",
		"basketball", "travel", "gaming",
	}
}

// DefaultCategoryTopics returns a new map from merchant categories to the interest topic a payment
// there is evidence of. Categories absent from the map (supermarkets,
// transport, utilities…) say nothing about interests and are ignored by the
// interest model.
func DefaultCategoryTopics() map[string]string {
	return map[string]string{
		"restaurant":       "food",
		"cafe":             "food",
		"outdoor_gear":     "hiking",
		"camping_supplies": "camping",
		"bike_shop":        "cycling",
		"fishing_tackle":   "fishing",
		"sportswear":       "running",
		"camera_store":     "photography",
		"board_game_cafe":  "board_games",
		"pet_store":        "pets",
		"baby_store":       "parenting",
		"music_store":      "music",
		"bookstore":        "reading",
		"yoga_studio":      "yoga",
		"basketball_court": "basketball",
		"travel_agency":    "travel",
		"game_store":       "gaming",
	}
}

// GenericCategories returns merchant categories with no interest topic.
func GenericCategories() []string {
	return []string{"supermarket", "convenience_store", "transport", "utilities", "pharmacy"}
}
