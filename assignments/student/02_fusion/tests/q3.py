OK_FORMAT = True

test = {   'name': 'q3',
    'points': None,
    'suites': [   {   'cases': [{'code': ">>> assert better_fusion in ('weighted', 'gated')\n>>> assert why_index in (1, 2, 3)\n", 'hidden': False, 'locked': False, 'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
