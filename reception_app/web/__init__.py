"""The patient portal's web process (``clinic-portal``; issue 17): FastAPI, uvicorn and Jinja2,
server-rendered pages that work without JavaScript. It connects as its own database login (a
member of ``clinic_portal``), calls ``services.portal`` and nothing else, and holds no rule of its
own: see ``app.py`` for the pages, ``security.py`` for what makes it fit for the internet,
``i18n.py`` for its languages.
"""
