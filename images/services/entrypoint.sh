#!/bin/sh
# The services image runs one service, named by its argument (the chart's `args`).
case "${1:-}" in
  gateway | perception | memory | coder | executor | analyzer) exec node "/app/services/$1/dist/main.js" ;;
  *)
    echo "usage: <gateway|perception|memory|coder|executor|analyzer>" >&2
    exit 2
    ;;
esac
