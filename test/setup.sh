#!/bin/sh
# Installs what the tests need on a Debian machine that has only Go.
# Each entry is command:package; a missing command installs its package.
# As root it uses apt-get; otherwise it lists what is missing and fails.
set -eu

needs="
ip:iproute2
iptables:iptables
iptables-legacy:iptables
nft:nftables
conntrack:conntrack
ethtool:ethtool
tcpdump:tcpdump
tshark:tshark
tcpreplay:tcpreplay
hping3:hping3
setpriv:util-linux
capsh:libcap2-bin
curl:curl
node:nodejs
buildah:buildah
systemd-analyze:systemd
npm:npm
prometheus-node-exporter:prometheus-node-exporter
prometheus:prometheus
promtool:prometheus
prometheus-alertmanager:prometheus-alertmanager
"

missing=""
for n in $needs; do
	cmd=${n%%:*}
	pkg=${n#*:}
	if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
		case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "test/setup.sh: missing packages:$missing" >&2
	echo "install them (sudo apt-get install$missing) or run make test as root" >&2
	exit 1
fi
echo "test/setup.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
