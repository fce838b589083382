/** Workspaces: each agency membership and each client membership is one. */
import type { Membership } from './session'

export const AGENCY_ROLES = new Set(['owner', 'admin', 'editor', 'viewer'])
export const DECIDING_ROLES = new Set(['approver', 'executive'])
const LAST_KEY = 'agencyhub.workspace'

export interface Workspace {
  key: string
  kind: 'agency' | 'client'
  name: string
  agencyName: string
  role: string
  path: string
  membership: Membership
}

export function workspacesOf(memberships: readonly Membership[]): Workspace[] {
  return memberships.map((m) =>
    m.clientId
      ? {
          key: `client:${m.clientId}`,
          kind: 'client' as const,
          name: m.clientName ?? '',
          agencyName: m.agencyName,
          role: m.role,
          path: `/clients/${m.clientId}/queue`,
          membership: m,
        }
      : {
          key: `agency:${m.agencyId}`,
          kind: 'agency' as const,
          name: m.agencyName,
          agencyName: m.agencyName,
          role: m.role,
          path: `/agencies/${m.agencyId}`,
          membership: m,
        },
  )
}

export function rememberWorkspace(key: string): void {
  localStorage.setItem(LAST_KEY, key)
}

export function rememberedWorkspace(workspaces: readonly Workspace[]): Workspace | undefined {
  const key = localStorage.getItem(LAST_KEY)
  return workspaces.find((w) => w.key === key)
}

/** The person's role for a client: their own client membership, else their agency's. */
export function roleAtClient(memberships: readonly Membership[], clientId: string, agencyId?: string): string | null {
  const own = memberships.find((m) => m.clientId === clientId)
  if (own) return own.role
  const agency = memberships.find((m) => !m.clientId && (!agencyId || m.agencyId === agencyId))
  return agency ? agency.role : null
}
