interface User {
  name: string;
  email?: string;
}

export function emailDomain(user: User): string {
  return user.email.split("@")[1];
}
