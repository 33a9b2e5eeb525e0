package e2e

// conntrackChecks joins the cross-check once the conntrack collector lands.
var conntrackChecks []crossCheck
