#!/usr/bin/env node
// macvlan-bpf-cni's own process (the C client, native/cni/cni-client.c, runs it when no agent serves the
// instance; with one, the agent runs the same code): the CNI plugin (spec 1.1: ADD, DEL, CHECK, STATUS,
// GC, VERSION). The configuration on stdin, CNI_* in the environment; the result or a CNI error as JSON
// on stdout, exit status 0 or 1.
import fs from 'node:fs';
import { cniCall } from './plugin.js';

const r = await cniCall(process.env, fs.readFileSync(0, 'utf8'));
process.stdout.write(r.stdout);
process.exitCode = r.code;
