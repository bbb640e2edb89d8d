# Free 127.0.0.1 ports for a bench's own services, sourced by the benches.
#
# Picked outside the kernel's ephemeral range (ip_local_port_range), from which
# every outgoing connection and every listen on port 0 takes its port: a port
# picked inside it can be taken between the pick and the bind (a service's own
# connection to another, made before it binds, once left a bench's engine
# without its port and every figure at zero). Below the range when there is
# room, else above it. free_port sets PORT; a port is never handed out twice.
read -r s_eph_low s_eph_high < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null \
    || { s_eph_low=32768; s_eph_high=60999; }
if (( s_eph_low - 10000 >= 2000 )); then
    s_port_low=10000; s_port_span=$(( s_eph_low - 10000 - 500 ))
elif (( 65000 - s_eph_high >= 2000 )); then
    s_port_low=$(( s_eph_high + 1 )); s_port_span=$(( 65000 - s_eph_high - 500 ))
else
    s_port_low=20000; s_port_span=20000
fi
NEXT_PORT=$(( s_port_low + RANDOM % s_port_span ))
port_busy () { [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]; }
free_port () {   # sets PORT
    while port_busy "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
    PORT=$NEXT_PORT; NEXT_PORT=$((NEXT_PORT + 1))
}
