// The CLI's usage text.
export const USAGE = `Usage: macvlan-bpf [ -j ] [ -n NETNS ] OBJECT COMMAND

  macvlan-bpf link add link PARENT [ name ] NAME [ address MAC ] [ mtu MTU ] [ netns NETNS ]
                       type macvlan [ mode { private | vepa | bridge | passthru | source } ] [ spoofchk { on | off } ]
                       [ nodst ] [ macaddr { { add | del } MAC | set [ MAC ... ] | flush } ]
                       [ bcqueuelen N ] [ bc_cutoff N ] [ kind { veth | netkit | auto } ]
  macvlan-bpf link add link PARENT [ name ] NAME [ address MAC ] [ mtu MTU ]
                       type macvtap [ mode MODE ] [ owner USER ] [ group GROUP ] [ queues N ] [ macvlan options ]
  macvlan-bpf link set [ dev ] NAME { up | down | mode MODE | address MAC | mtu MTU | spoofchk { on | off } |
                                      nodst | macaddr { { add | del } MAC | set [ MAC ... ] | flush } |
                                      bcqueuelen N | bc_cutoff N } ...
  macvlan-bpf link del [ dev ] NAME
  macvlan-bpf link show [ [ dev ] NAME ]
  macvlan-bpf port set PARENT [ isolation { strict | kernel } ] [ fastpath { tc | xdp } ]
                       [ kind { veth | netkit | auto } ]
  macvlan-bpf port show [ PARENT ]
  macvlan-bpf tap exec NAME [ --queues N ] -- COMMAND ...   (COMMAND gets the queue fds: {fds}, {vhostfds})
  macvlan-bpf tap args NAME [ --queues N ]                  (QEMU options and libvirt XML for the child)
  macvlan-bpf apply -f FILE [ --prune ]
  macvlan-bpf stats [ --per-cpu ] [ --watch [ SECS ] ] [ --top N ] [ dev NAME ]
  macvlan-bpf agent [ --config FILE ] [ --prune ] [ --listen HOST:PORT | off ]
  macvlan-bpf lab [ --keep ]
  macvlan-bpf bench [ --smoke ] [ --only=paths|kinds|taps|cni|cost|fanout|agent|counters|scale ]

  -j          JSON output (like ip -j)
  -d          details: link show adds the macvlan settings: nodst, source mode's list, the broadcast
              queue's settings (like ip -d)
  -n NETNS    the named network namespace a child lives in, when names repeat across namespaces

Run in the network namespace of the parents. State is pinned under $MACVLAN_BPF_PIN_ROOT
(default /sys/fs/bpf/macvlan-bpf). When an agent serves that instance, link, port and apply commands
go to it over its unix socket (/run/macvlan-bpf/agent.sock); without one they act directly.`;
