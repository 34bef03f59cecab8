"""healthopt: geospatial resource-allocation optimizer for public-health planning.

Data flow (one scenario): embedded or user data (``optimizer.data``) -> road graph
(``optimizer.network``) -> demand points (``optimizer.demand``) -> sparse travel
times (``optimizer.traveltime``) -> location models (``optimizer.models``) -> outputs.
"""

__version__ = "0.1.0"
