package inject_test

import (
	"fmt"

	"github.com/guestinject/guestinject/inject"
)

// OpenStack describes bonds and VLANs as links between links, and the
// guest's interfaces only by MAC address.
func ExampleParseNetworkData_bondAndVLAN() {
	n, err := inject.ParseNetworkData([]byte(`{
		"links": [
			{"id": "nic0", "type": "phy", "ethernet_mac_address": "a0:36:9f:2c:e8:70"},
			{"id": "nic1", "type": "phy", "ethernet_mac_address": "a0:36:9f:2c:e8:71"},
			{"id": "bond", "type": "bond", "bond_links": ["nic0", "nic1"], "bond_mode": "802.3ad", "bond_miimon": 100},
			{"id": "vlan", "type": "vlan", "vlan_link": "bond", "vlan_id": 101, "vlan_mac_address": "a0:36:9f:2c:e8:70"}
		],
		"networks": [
			{"id": "v4", "type": "ipv4", "link": "vlan", "ip_address": "10.184.0.244", "netmask": "255.255.240.0"},
			{"id": "v6", "type": "ipv6_slaac", "link": "vlan"}
		]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, i := range n.Interfaces {
		switch {
		case i.Bond != nil:
			fmt.Println(i.Name, "bond of", i.Bond.Members, i.Bond.Mode)
		case i.VLAN != nil:
			fmt.Println(i.Name, "VLAN", i.VLAN.ID, "on", i.VLAN.Link, i.Addresses, "IPv6", i.IPv6)
		default:
			fmt.Println("Ethernet", i.MAC)
		}
	}
	// Output:
	// Ethernet a0:36:9f:2c:e8:70
	// Ethernet a0:36:9f:2c:e8:71
	// bond0 bond of [a0:36:9f:2c:e8:70 a0:36:9f:2c:e8:71] 802.3ad
	// bond0.101 VLAN 101 on bond0 [10.184.0.244/20] IPv6 slaac
}
