// GraphiQL for /api/graphql, bundled by web/build.mjs into
// <site>/graphiql.<hash>.js and .css and served at /graphiql from this
// origin (no CDN). Queries and mutations are POSTed, subscriptions go over
// graphql-transport-ws on the same path; a signed-in session (or a token in
// the headers pane) acts for its user.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/graphiql.css';

const url = `${location.origin}/api/graphql`;
const fetcher = createGraphiQLFetcher({
  url,
  subscriptionUrl: url.replace(/^http/, 'ws'),
});
const defaultQuery = `# tickpulse's GraphQL: the same data and rules as the REST API.
# Try it, then see the schema in the docs pane.
{
  symbols {
    symbol
    price
    ts
  }
}
`;
createRoot(document.getElementById('graphiql')).render(
  createElement(GraphiQL, { fetcher, defaultQuery }),
);
