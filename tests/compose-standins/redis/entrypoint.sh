#!/bin/sh
# As the official image: no protected mode, so other containers on the compose network can connect.
if [ "$1" = redis-server ]; then
  shift
  exec redis-server "$@" --protected-mode no
fi
exec "$@"
