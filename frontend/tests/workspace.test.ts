import { describe, expect, it } from 'vitest'
import type { Membership } from '../src/auth/session'
import { roleAtClient, workspacesOf } from '../src/auth/workspace'
import { auditQuery } from '../src/pages/AuditPage'

const agency: Membership = { id: 'm1', agencyId: 'a', agencySlug: 'a', agencyName: 'Nordlicht', role: 'editor' }
const client: Membership = {
  id: 'm2',
  agencyId: 'a',
  agencySlug: 'a',
  agencyName: 'Nordlicht',
  role: 'approver',
  clientId: 'c1',
  clientSlug: 'c1',
  clientName: 'Bäckerei',
}

describe('workspaces', () => {
  it('are one per agency membership and one per client membership', () => {
    const workspaces = workspacesOf([agency, client])
    expect(workspaces.map((w) => [w.kind, w.name, w.path])).toEqual([
      ['agency', 'Nordlicht', '/agencies/a'],
      ['client', 'Bäckerei', '/clients/c1/queue'],
    ])
  })

  it('give the client role where the person has one, else the agency role', () => {
    expect(roleAtClient([agency, client], 'c1', 'a')).toBe('approver')
    expect(roleAtClient([agency], 'c2', 'a')).toBe('editor')
    expect(roleAtClient([client], 'c2', 'a')).toBeNull()
    expect(roleAtClient([agency], 'c2', 'other')).toBeNull()
  })
})

describe('audit filter', () => {
  it('sends only what is filled in, times with their offset', () => {
    expect(auditQuery({ type: '  ' })).toEqual({})
    const query = auditQuery({ type: 'draft.*', from: '2026-12-07T09:00' })
    expect(query.type).toBe('draft.*')
    expect(query.from).toMatch(/^2026-12-0\dT\d\d:00:00\.000Z$/)
    expect(query.to).toBeUndefined()
  })
})
