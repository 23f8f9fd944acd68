// Package stats judges rates of comparison outcomes, as /status and the noise filter read them:
// Wilson's score interval for one look at a fixed number of comparisons, an always-valid confidence
// sequence for a rate watched continuously, a verdict against a goal with the number of comparisons
// it may still take, and Diffy's noise cancellation for per-field disagreement rates.
//
// It owns no state: the callers (tee) count outcomes; these are pure functions of the counts.
// Package compare decides each comparison's outcome; this package says what many outcomes mean.
package stats
