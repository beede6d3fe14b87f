/** The OpenAPI 3.1 document of the jobs API, served at `/api/openapi.json`. */

const err = { $ref: '#/components/schemas/Error' }
const json = (schema: unknown, description: string) => ({ description, content: { 'application/json': { schema } } })
const e401 = json(err, 'no valid token: send "Authorization: Bearer <token>" (hub token or a tenant token)')
const e400 = json(err, 'a bad body or query; the message names the field')
const e404 = json(err, 'no such job (or it belongs to another tenant)')
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }

const action = (name: string, what: string) => ({
  post: {
    summary: what,
    operationId: `${name}Job`,
    security: [{ bearer: [] }],
    parameters: [idParam],
    responses: {
      200: json({ $ref: '#/components/schemas/JobRef' }, 'the job and its status after the action'),
      401: e401,
      404: e404,
      409: json(err, 'the job is in a state where this action does not apply'),
    },
  },
})

/** `POST /api/queues/{name}/<action>` (admin only): what it does and what it answers. */
const queueAction = (what: string, answer: string) => ({
  post: {
    summary: what,
    security: [{ bearer: [] }],
    parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
    responses: { 200: { description: answer }, 401: e401 },
  },
})

export function jobsOpenApi(types: string[]): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Aether jobs API',
      version: '1.0.0',
      description:
        'Durable jobs: each job is a journaled actor; steps take effect once (idempotency key jobId/stepId).',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'the hub token (all tenants) or a tenant token (that tenant only)',
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: { error: { type: 'string' }, message: { type: 'string' } },
        },
        Priority: {
          oneOf: [
            { type: 'integer', minimum: 0, maximum: 20 },
            { type: 'string', enum: ['URGENT', 'HIGH', 'NORMAL', 'LOW'] },
          ],
          description: 'higher runs first; URGENT 20, HIGH 15, NORMAL 5 (default), LOW 0',
        },
        Status: {
          type: 'string',
          enum: ['PENDING', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'STOPPED'],
          description: 'FAILED is the dead letter',
        },
        SubmitJob: {
          type: 'object',
          additionalProperties: false,
          required: ['type'],
          properties: {
            type: { type: 'string', enum: types },
            input: { description: 'any JSON (at most 256 KiB)' },
            priority: { $ref: '#/components/schemas/Priority' },
            tenant: {
              type: 'string',
              pattern: '^[A-Za-z0-9_.-]{1,64}$',
              description: 'default "default"; a tenant token may only submit for its tenant',
            },
            queue: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
            key: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'idempotency key: the same (tenant, key) gives the same job',
            },
            runAt: {
              oneOf: [
                { type: 'integer', minimum: 0 },
                { type: 'string', format: 'date-time' },
              ],
              description: 'not before this time',
            },
            maxAttempts: {
              type: 'integer',
              minimum: 1,
              maximum: 100,
              description: "overrides every step's retry policy",
            },
          },
        },
        JobRef: {
          type: 'object',
          required: ['id', 'status'],
          properties: { id: { type: 'string' }, status: { $ref: '#/components/schemas/Status' } },
        },
        Job: {
          type: 'object',
          required: ['id', 'type', 'status', 'priority', 'tenant', 'attempts', 'input'],
          properties: {
            id: { type: 'string' },
            type: { type: 'string' },
            status: { $ref: '#/components/schemas/Status' },
            priority: { type: 'integer' },
            tenant: { type: 'string' },
            queue: { type: 'string' },
            attempts: { type: 'integer' },
            deliveries: { type: 'integer' },
            input: {},
            output: {},
            submittedAt: { type: 'integer', description: 'ms since the epoch' },
            finishedAt: { type: 'integer', description: 'when it became COMPLETED or STOPPED (ms)' },
            archived: {
              type: 'boolean',
              description: 'true for a job retired past retention (read-only; its log and history stay readable)',
            },
            archivedAt: { type: 'integer' },
            error: {
              type: 'object',
              properties: { message: { type: 'string' }, state: { type: 'string' }, attempts: { type: 'integer' } },
            },
          },
        },
      },
    },
    paths: {
      '/api/jobs': {
        post: {
          summary: 'submit a job',
          operationId: 'submitJob',
          security: [{ bearer: [] }],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/SubmitJob' } } },
          },
          responses: {
            201: json({ $ref: '#/components/schemas/JobRef' }, 'created'),
            200: json({ $ref: '#/components/schemas/JobRef' }, 'a job with this key exists: that job'),
            400: e400,
            401: e401,
          },
        },
        get: {
          summary:
            'list live jobs (by id), or with archived=true the archived ones (newest finish first), page by page',
          operationId: 'listJobs',
          parameters: [
            {
              name: 'archived',
              in: 'query',
              schema: { type: 'boolean' },
              description:
                'true: list archived jobs; filters apply within each page, so a page may hold fewer than limit: follow next',
            },
            { name: 'status', in: 'query', schema: { type: 'string' }, description: 'one status or a comma list' },
            { name: 'type', in: 'query', schema: { type: 'string' } },
            { name: 'tenant', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'the `next` of the previous page' },
          ],
          responses: {
            200: json(
              {
                type: 'object',
                properties: {
                  jobs: { type: 'array', items: { $ref: '#/components/schemas/Job' } },
                  next: { type: ['string', 'null'] },
                },
              },
              'a page of jobs',
            ),
            400: e400,
            401: e401,
          },
        },
      },
      '/api/jobs/{id}': {
        get: {
          summary: 'one job, live or archived (then archived: true)',
          operationId: 'getJob',
          parameters: [idParam],
          responses: { 200: json({ $ref: '#/components/schemas/Job' }, 'the job'), 401: e401, 404: e404 },
        },
      },
      '/api/jobs/{id}/pause': action(
        'pause',
        'pause a pending or running job (a running step is cancelled and re-run, with the same key, on resume)',
      ),
      '/api/jobs/{id}/resume': action('resume', 'resume a paused job'),
      '/api/jobs/{id}/stop': action('stop', 'stop a job for good'),
      '/api/jobs/{id}/retry': action('retry', 'requeue a dead-lettered (FAILED) job at the step that failed'),
      '/api/jobs/events': {
        get: {
          summary:
            'WebSocket: one JSON message per job status change ({type: "job.changed", id, status, jobType, tenant, at}) after a {type: "hello", counts}; ?token= scopes to a tenant',
          responses: { 101: { description: 'switching protocols' } },
        },
      },
      '/api/queues': {
        get: {
          summary: 'queues: depth by priority and tenant, delayed, running, dead letters; workers',
          operationId: 'listQueues',
          responses: { 200: { description: 'queues' }, 401: e401 },
        },
      },
      '/api/queues/{name}/pause': queueAction('stop leasing jobs of this queue', 'paused'),
      '/api/queues/{name}/resume': queueAction('lease jobs of this queue again', 'resumed'),
      '/api/schedules': {
        get: { summary: 'schedules', responses: { 200: { description: 'schedules' } } },
        post: {
          summary:
            'create a schedule {name, job: {type, input?, priority?, tenant?}, every (ms) | cron (5 fields, UTC)}; missed runs while down: one catch-up run, then back on schedule',
          security: [{ bearer: [] }],
          responses: { 201: { description: 'created' }, 400: e400, 401: e401, 409: json(err, 'exists') },
        },
      },
      '/api/schedules/{name}/{action}': {
        post: {
          summary: 'pause | resume | stop a schedule',
          security: [{ bearer: [] }],
          responses: { 200: { description: 'done' }, 401: e401, 404: json(err, 'no such schedule') },
        },
      },
      '/api/triggers/{name}': {
        post: {
          summary:
            "webhook trigger: submits the trigger's job type with the body as input; header Idempotency-Key becomes the job key",
          security: [{ bearer: [] }],
          responses: {
            201: json({ $ref: '#/components/schemas/JobRef' }, 'created'),
            200: json({ $ref: '#/components/schemas/JobRef' }, 'existing job for this Idempotency-Key'),
            401: e401,
            404: json(err, 'no such trigger'),
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus text: queue depth, jobs by status, step latency histogram',
          responses: { 200: { description: 'text/plain; version=0.0.4' } },
        },
      },
    },
  }
}
