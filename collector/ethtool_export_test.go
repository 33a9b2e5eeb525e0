package collector

// DefaultEthtoolStatInclude gives the end-to-end tests (package
// collector_test) the default driver statistic pattern, unanchored.
const DefaultEthtoolStatInclude = defaultEthtoolStatInclude

// SetEthtoolStatOptions sets --collector.ethtool.stat-include and
// --collector.ethtool.max-stats-per-device for collectors built afterwards,
// as the command line would, and returns a function that restores them.
func SetEthtoolStatOptions(include string, maxStats int) (restore func()) {
	oldInc, oldMax := ethtoolStatInclude, ethtoolMaxStats
	ethtoolStatInclude, ethtoolMaxStats = include, maxStats
	return func() { ethtoolStatInclude, ethtoolMaxStats = oldInc, oldMax }
}
