#!/usr/bin/env node
import '../dist/fleetd/main.js';
