package accesslog

import (
	"fmt"
	"net/netip"
)

// ParsePrefixes reads trusted proxies (Options.TrustedProxies) written as
// addresses or CIDR prefixes; an address is a prefix of its full length.
func ParsePrefixes(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q: not an address or CIDR prefix", v)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
