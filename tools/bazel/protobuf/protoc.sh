#!/usr/bin/env bash
# Runs the system protocol compiler (Debian package protobuf-compiler).
exec /usr/bin/protoc "$@"
