"""healthopt: geospatial resource-allocation optimizer for public-health planning.

Data flow (one scenario): embedded or user data (``healthopt.data``) -> road graph
(``healthopt.network``) -> demand points (``healthopt.demand``) -> sparse travel
times (``healthopt.traveltime``) -> location models (``healthopt.models``) -> outputs.
"""

__version__ = "0.1.0"
