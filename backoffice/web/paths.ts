/**
 * The pages' URLs. French paths, so that none collides with the JSON API's English ones
 * (/carte/cards/:id is the API's card, /carte/cartes/:id the page).
 */
export const PATHS = {
  htmx: '/static/htmx.min.js',
  css: '/static/app.css',
  signIn: '/connexion',
  signOut: '/deconnexion',
  dashboard: '/',
  virtualCardNew: '/carte/cartes-virtuelles/creation',
  virtualCardForm: '/carte/cartes-virtuelles/creation/formulaire',
  cards: '/carte/cartes',
  card: (id: number | string) => `/carte/cartes/${id}`,
  profiles: '/carte/profils',
  profile: (id: number | string) => `/carte/profils/${id}`,
  servicePoints: '/exploitation/points-de-service',
  terminals: '/exploitation/terminaux',
  clients: '/exploitation/clients',
  client: (id: number | string) => `/exploitation/clients/${id}`,
  users: '/administration/utilisateurs',
  audit: '/administration/audit',
} as const;
