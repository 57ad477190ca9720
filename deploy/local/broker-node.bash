# shellcheck shell=bash
# Sourced by deploy/local/rabbitmq (its TLS node) and deploy/local/rabbitmq-cluster (three nodes): a RabbitMQ
# node of the platform's own beside the system broker, an Erlang node with its own name and ports that keeps
# its configuration, data and logs under one directory and reads nothing of the system broker's files.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The environment of node $1 (name@host) kept under directory $2 (absolute), with AMQP port $3 (unused when
# its configuration turns the plain listener off) and Erlang distribution port $4.
own_node_env() {
    local name=$1 dir=$2 amqp_port=$3 dist_port=$4
    echo "RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf" "RABBITMQ_NODENAME=$name" \
        "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1" "RABBITMQ_NODE_PORT=$amqp_port" "RABBITMQ_DIST_PORT=$dist_port" \
        "RABBITMQ_MNESIA_BASE=$dir/mnesia" "RABBITMQ_LOG_BASE=$dir/log" "RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf" \
        "RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins" "RABBITMQ_PID_FILE=$dir/rabbitmq.pid"
}

# The files every such node needs under $1 besides its rabbitmq.conf: no plugins, and Erlang on loopback.
own_node_files() {
    local dir=$1
    mkdir -p "$dir/mnesia" "$dir/log"
    echo '[].' >"$dir/enabled_plugins"
    cat >"$dir/rabbitmq-env.conf" <<'CONF'
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
CONF
}

# The packaged broker runs as its own user, which must be able to read and write the paths given (and
# traverse directory $1, their parent).
own_node_hand_over() {
    local dir=$1
    shift
    if id rabbitmq >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
        chown -R rabbitmq:rabbitmq "$@"
        chmod 755 "$dir"
    fi
}

# Starts the node with environment "$1" (own_node_env's words) in the background.
own_node_launch() {
    # shellcheck disable=SC2086 # the environment's words have no spaces
    as_root env $1 rabbitmq-server -detached >/dev/null 2>&1
}

# Waits up to 120 s until the node with environment "$1" and name $2 accepts connections on port $3 and has
# started. Fails when it does not.
own_node_wait() {
    local node_env=$1 name=$2 port=$3
    for _ in $(seq 1 120); do
        if port_open "$port"; then
            # shellcheck disable=SC2086
            as_root env $node_env rabbitmqctl -q -n "$name" await_startup >/dev/null 2>&1 || true
            return 0
        fi
        sleep 1
    done
    return 1
}
