package scenarios

// finding is a defect of the alert pack or the sampler that the suite
// found and tolerates until it is fixed: the co-symptoms tagged with its
// ID are alerts a user would get that the pack should not send. A strict
// run (NETCAUSE_SCENARIOS_STRICT=1) fails on them. When a fix lands, its
// tags go, and the run shows whether the alerts went with them.
type finding struct {
	ID, Title, Detail, Fix string
}

var findings = []finding{
	{
		ID:    "F9",
		Title: "a dedicated NAT gateway cannot raise NetcauseNATRepliesMissing",
		Detail: "`NetcauseNATRepliesMissing` needs translated entries without a reply *and* handshakes failing on the " +
			"same instance (SYN retransmits, failed attempts or the sampler's unanswered SYNs). A router that only " +
			"forwards has no TCP of its own and, without the sampler, no unanswered SYNs: in the NAT scenario the " +
			"router holds dozens of unreplied DNAT entries and the alert stays silent; the cause is named only on the " +
			"client, by `NetcauseConntrackInvalid`, and only because the client runs a stateful firewall.",
		Fix: "accept the node's own unreplied translated entries as the handshake evidence on a node without local " +
			"TCP (or require the sampler on NAT gateways and say so in the runbook).",
	},
}

func findingByID(id string) (finding, bool) {
	for _, f := range findings {
		if f.ID == id {
			return f, true
		}
	}
	return finding{}, false
}
