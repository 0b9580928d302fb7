/** The route table: every route of the back office, in documentation order. */
import type { Route } from '../route.js';
import { cardRoutes } from './cards.js';
import { carteRoutes } from './carte.js';
import { partyRoutes } from './parties.js';
import { profileRoutes } from './profiles.js';
import { stationRoutes } from './stations.js';
import { systemRoutes } from './system.js';
import { userRoutes } from './users.js';

export const ROUTES: readonly Route[] = [...systemRoutes, ...partyRoutes, ...stationRoutes, ...profileRoutes, ...cardRoutes, ...carteRoutes, ...userRoutes];
