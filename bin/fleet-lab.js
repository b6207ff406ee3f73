#!/usr/bin/env node
import '../dist/lab/main.js';
