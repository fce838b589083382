/** Who is signed in (GET /me), signing in and out. */
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type Schemas } from '../api/client'

export type Me = Schemas['MeOut']
export type Membership = Schemas['MembershipOut']

export const ME = ['me'] as const

export function useMe() {
  return useQuery({
    queryKey: ME,
    queryFn: () => unwrap(api.GET('/api/v1/me'), { quiet401: true }),
    retry: false,
    staleTime: 60_000,
  })
}

export function useSignIn() {
  const queryClient = useQueryClient()
  return async (email: string, password: string): Promise<Me> => {
    const answer = await unwrap(api.POST('/api/v1/auth/login', { body: { email, password } }), {
      quiet401: true,
    })
    const me: Me = { user: answer.user, memberships: answer.memberships }
    queryClient.clear()
    queryClient.setQueryData(ME, me)
    return me
  }
}

export function useSignOut() {
  const queryClient = useQueryClient()
  return async (): Promise<void> => {
    try {
      await unwrap(api.POST('/api/v1/auth/logout'), { quiet401: true })
    } finally {
      queryClient.clear()
      queryClient.setQueryData(ME, null)
    }
  }
}
