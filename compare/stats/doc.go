// Package stats judges rates of comparison outcomes, as /status and the noise filter read them:
// Wilson's score interval for one look at a fixed number of comparisons, an always-valid confidence
// sequence for a rate watched continuously, a verdict against a goal with the number of comparisons
// it may still take, and Diffy's noise cancellation for per-field disagreement rates.
//
// Against ground truth, a Tally accumulates judged comparisons with their record weights and labels;
// its Estimate gives both models' accuracies and their difference (Horvitz-Thompson over the
// weights, stratified by whether the judged values differ, so that labels on the disagreements alone
// give the difference), with Wilson intervals at the effective sample size for the accuracies,
// Tango's score interval for the paired difference, and an always-valid sequence for the share of
// disagreements the candidate wins.
//
// It owns no state but a Tally's sums: the callers (tee, cmd) count outcomes; the rest are pure
// functions of the counts.
// Package compare decides each comparison's outcome; this package says what many outcomes mean.
package stats
