/**
 * The API's discovery document (Google API discovery format, as fleet serves at
 * /fleet/v1/discovery): what generated fleet clients read. Ours, describing our API in the same
 * shape: the same schemas and methods, plus what fleet-ts adds (why, draining, PATCH machines).
 */

const str = { type: 'string' };
const page = (item: string, field: string) => ({
  id: `${item}Page`,
  type: 'object',
  properties: { [field]: { type: 'array', items: { $ref: item } }, nextPageToken: str },
});
const states = { type: 'string', enum: ['inactive', 'loaded', 'launched'] };
const tokenParam = { nextPageToken: { type: 'string', location: 'query' } };
const unitNameParam = { unitName: { type: 'string', location: 'path', required: true } };

export function discoveryDocument(version: string): Record<string, unknown> {
  return {
    kind: 'discovery#restDescription',
    discoveryVersion: 'v1',
    id: 'fleet:v1',
    name: 'fleet',
    version: 'v1',
    title: 'fleet-ts API',
    description: `fleet's HTTP API v1, served by fleetd ${version} (fleet-ts); see docs/api.md`,
    documentationLink: 'docs/api.md',
    protocol: 'rest',
    labels: [],
    baseUrl: '$ENDPOINT/fleet/v1/',
    basePath: '/fleet/v1/',
    rootUrl: '$ENDPOINT/',
    servicePath: 'fleet/v1/',
    batchPath: 'batch',
    parameters: {},
    auth: {},
    schemas: {
      Machine: {
        id: 'Machine',
        type: 'object',
        properties: {
          id: str,
          primaryIP: str,
          metadata: { type: 'object', properties: {}, additionalProperties: str },
          draining: { type: 'boolean' },
        },
      },
      MachinePage: page('Machine', 'machines'),
      UnitOption: {
        id: 'UnitOption',
        type: 'object',
        properties: { section: str, name: str, value: str },
      },
      Unit: {
        id: 'Unit',
        type: 'object',
        properties: {
          name: str,
          options: { type: 'array', items: { $ref: 'UnitOption' } },
          desiredState: states,
          currentState: states,
          machineID: { type: 'string', required: true },
        },
      },
      UnitPage: page('Unit', 'units'),
      UnitState: {
        id: 'UnitState',
        type: 'object',
        properties: {
          name: str,
          hash: str,
          machineID: str,
          systemdLoadState: str,
          systemdActiveState: str,
          systemdSubState: str,
        },
      },
      UnitStatePage: page('UnitState', 'states'),
      UnitWhy: {
        id: 'UnitWhy',
        type: 'object',
        properties: {
          name: str,
          desiredState: states,
          placed: { type: 'boolean' },
          machineIDs: { type: 'array', items: str },
          reasons: { type: 'array', items: str },
          since: str,
        },
      },
    },
    resources: {
      Machines: {
        methods: {
          List: {
            id: 'fleet.Machine.List',
            description: 'A page of Machine objects.',
            httpMethod: 'GET',
            path: 'machines',
            parameters: tokenParam,
            response: { $ref: 'MachinePage' },
          },
          Patch: {
            id: 'fleet.Machine.Patch',
            description:
              'Add, replace or remove machine metadata (and set draining): a JSON array of {op, path, value}.',
            httpMethod: 'PATCH',
            path: 'machines',
          },
          SetDraining: {
            id: 'fleet.Machine.SetDraining',
            description: 'Set whether a machine takes new units: {"draining": true|false}.',
            httpMethod: 'PUT',
            path: 'machines/{machineID}/draining',
            parameters: { machineID: { type: 'string', location: 'path', required: true } },
            parameterOrder: ['machineID'],
          },
        },
      },
      Units: {
        methods: {
          List: {
            id: 'fleet.Unit.List',
            description: 'A page of Unit objects.',
            httpMethod: 'GET',
            path: 'units',
            parameters: tokenParam,
            response: { $ref: 'UnitPage' },
          },
          Get: {
            id: 'fleet.Unit.Get',
            description: 'One Unit object.',
            httpMethod: 'GET',
            path: 'units/{unitName}',
            parameters: unitNameParam,
            parameterOrder: ['unitName'],
            response: { $ref: 'Unit' },
          },
          Delete: {
            id: 'fleet.Unit.Delete',
            description: 'Destroy a Unit.',
            httpMethod: 'DELETE',
            path: 'units/{unitName}',
            parameters: unitNameParam,
            parameterOrder: ['unitName'],
          },
          Set: {
            id: 'fleet.Unit.Set',
            description: 'Create a Unit (with options) or change its desiredState.',
            httpMethod: 'PUT',
            path: 'units/{unitName}',
            parameters: unitNameParam,
            parameterOrder: ['unitName'],
            request: { $ref: 'Unit' },
          },
          Why: {
            id: 'fleet.Unit.Why',
            description: 'Where a Unit is placed, or why it is not.',
            httpMethod: 'GET',
            path: 'units/{unitName}/why',
            parameters: unitNameParam,
            parameterOrder: ['unitName'],
            response: { $ref: 'UnitWhy' },
          },
        },
      },
      UnitState: {
        methods: {
          List: {
            id: 'fleet.UnitState.List',
            description: 'A page of UnitState objects, optionally of one machine or one unit.',
            httpMethod: 'GET',
            path: 'state',
            parameters: {
              ...tokenParam,
              unitName: { type: 'string', location: 'query' },
              machineID: { type: 'string', location: 'query' },
            },
            response: { $ref: 'UnitStatePage' },
          },
        },
      },
    },
  };
}
