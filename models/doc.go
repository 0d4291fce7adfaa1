// Package models holds the ranking algorithms: implicit ALS with a
// conjugate-gradient row solve, same-city group and activity ranking with
// social proof, friend candidates and their linear score, the friend
// policy (Allowed), reasons, and the fits offline evaluation uses. A typed
// Params value drives each.
//
// It imports features, data, pipeline (for bounded fan-out) and gonum,
// and does no I/O and no logging.
package models
