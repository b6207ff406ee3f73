#!/usr/bin/env node
import '../dist/fleetctl/main.js';
