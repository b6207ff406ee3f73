// Placeholder entry point, replaced by the yargs command tree (fleetctl/commands/*).
console.log('fleetctl: usage: fleetctl <command>');
