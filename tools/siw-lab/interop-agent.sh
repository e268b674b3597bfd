#!/bin/sh
# iwkit interop agent: the guest side of tests/test_interop.py (runs inside the siw-lab VM).
#
# The lab's init (../../shared/siw-lab/init) runs /share/tests.sh; test_interop.py puts this file
# there. It waits for numbered shell snippets that the host writes into /share/cmd (1.sh, 2.sh, ...),
# runs each in a subshell with the helpers below, and leaves its output in N.out and its exit
# status in N.rc. A snippet containing the line "#exit" ends the agent (init then powers off).
# One VM serves every interop cell this way: siw's module parameters are writable at run time
# (/sys/module/siw/parameters, see build-siw.sh), so no reboot is needed between cells.
S=/share
P=/sys/module/siw/parameters
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "AGENT[$(up)] $*"; }
setp() { # setp mpa_version=2 mpa_crc_required=N ...
    for kv in "$@"; do echo "${kv#*=}" > $P/${kv%%=*} || { log "cannot set $kv"; return 1; }; done
    for f in $P/*; do printf '%s=%s ' ${f##*/} "$(cat $f)"; done; echo
}
wait_listen() { # wait until a kernel TCP listener (siw's, made by rdma_listen) exists on port $1
    hp=$(printf ':%04X ' $1); i=0
    while ! grep -q "$hp[0-9A-F:]* 0A " /proc/net/tcp && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
    [ $i -lt 200 ] || { log "no listener on port $1 after 20 s"; return 1; }
}
wait_file() { # wait_file FILE SECONDS
    i=0; while [ ! -f "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i+1)); done; [ -f "$1" ]
}
mkdir -p $S/cmd $S/out
log "agent up (scenario '$1'), siw: $(ls $P | tr '\n' ' ')"
echo up > $S/agent.tmp && mv $S/agent.tmp $S/agent.ready
n=1; idle=0
while [ $idle -lt 6000 ]; do          # 10 minutes without a command: give up
    f=$S/cmd/$n.sh
    if [ -f $f ]; then
        idle=0
        ( . $f ) > $S/cmd/$n.out 2>&1
        echo $? > $S/cmd/$n.rc.tmp && mv $S/cmd/$n.rc.tmp $S/cmd/$n.rc
        grep -q '^#exit' $f && break
        n=$((n + 1))
    else
        sleep 0.1; idle=$((idle + 1))
    fi
done
dmesg > $S/out/dmesg.txt
log "agent done"
