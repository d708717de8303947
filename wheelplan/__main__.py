from wheelplan.cli import main

raise SystemExit(main())
