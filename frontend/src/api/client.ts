/**
 * The typed API client (openapi-fetch over the generated schema), with the API's
 * CSRF rule applied to every unsafe request and every error turned into an ApiError
 * carrying the problem+json detail.
 */
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']

export const CSRF_COOKIE = 'agencyhub_csrf'
export const CSRF_HEADER = 'X-CSRF-Token'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  errors?: { field?: string; message?: string }[]
  current?: Record<string, unknown>
  requestId?: string
}

export class ApiError extends Error {
  readonly status: number
  readonly problem: Problem
  /** Seconds the server asks to wait (429, 503), from `Retry-After`. */
  readonly retryAfter: number | null

  constructor(status: number, problem: Problem, retryAfter: number | null = null) {
    super(problem.detail || problem.title || `HTTP ${status}`)
    this.name = 'ApiError'
    this.status = status
    this.problem = problem
    this.retryAfter = retryAfter
  }

  /** A 409 of a rule rather than of someone else's change (four-eyes, an approval
   * policy a change would break): reloading would not help. */
  get isRuleConflict(): boolean {
    return this.status === 409 && /\/(four-eyes|policy-impossible)$/.test(this.problem.type ?? '')
  }

  /** Someone else changed the object first: reload and try again. */
  get isConflict(): boolean {
    return this.status === 409 && !this.isRuleConflict
  }

  /** The change would leave the client's approval policy impossible; repeating it with
   * `force` goes ahead. */
  get breaksPolicy(): boolean {
    return this.status === 409 && (this.problem.type ?? '').endsWith('/policy-impossible')
  }
}

export function readCookie(name: string, cookies: string = document.cookie): string | null {
  for (const part of cookies.split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return decodeURIComponent(value.join('='))
  }
  return null
}

let onUnauthenticated: () => void = () => {}

/** What the app does when the API answers 401 (back to sign-in). */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (!SAFE_METHODS.has(request.method)) {
      const token = readCookie(CSRF_COOKIE)
      if (token) request.headers.set(CSRF_HEADER, token)
    }
    return request
  },
}

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' })
api.use(csrf)

/** The data of an openapi-fetch answer, or an ApiError with the problem's detail. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
  options: { quiet401?: boolean } = {},
): Promise<T> {
  const { data, error, response } = await call
  if (response.ok) return data as T
  const problem = (typeof error === 'object' && error !== null ? error : {}) as Problem
  if (response.status === 401 && !options.quiet401) onUnauthenticated()
  const wait = Number.parseInt(response.headers.get('retry-after') ?? '', 10)
  throw new ApiError(response.status, problem, Number.isFinite(wait) ? wait : null)
}
