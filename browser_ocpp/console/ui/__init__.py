"""The console's views: each binds one part of ``index.html`` to the station or to a
model in ``..model``.  They import ``js``, so only the page imports them."""
