// Package features turns one run's validated inputs into what the models
// read: the eligibility boundary (an ineligible user's behaviour is
// dropped here, once, so no count downstream can see it), decayed and
// weighted user × item signals, memberships resolved from the snapshot and
// join and leave events, tie strengths, interpretable topic weights and
// the policy sets (blocks, dismissals, hidden items).
//
// It imports only data, does no I/O and no logging, and is deterministic.
package features
