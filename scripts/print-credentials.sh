#!/usr/bin/env bash
# `make run`'s last word: once the web server answers, print the demo's logins, API key and
# a curl command (written by seed_demo), so honcho's start-up lines cannot bury them. Then
# wait quietly: honcho stops every process when one exits.
set -u
for _ in $(seq 60); do
  curl -fsS -o /dev/null http://127.0.0.1:8000/healthz 2>/dev/null && break
  sleep 1
done
echo
cat .run/demo-credentials.txt 2>/dev/null || echo "No .run/demo-credentials.txt: run manage.py seed_demo."
exec sleep infinity
