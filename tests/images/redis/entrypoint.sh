#!/bin/sh
# The official image's Redis is built with protected mode off, whatever options the command
# gives (compose.prod.yaml adds --appendonly yes); Debian's is not: turn it off here.
set -e
if [ "$1" = redis-server ]; then
    shift
    set -- redis-server --protected-mode no "$@"
fi
exec "$@"
