OK_FORMAT = True

test = {   'name': 'q3',
    'points': None,
    'suites': [   {   'cases': [{'code': '>>> assert losses[-1] < losses[0]\n>>> assert 0.0 <= test_recall <= 1.0\n', 'hidden': False, 'locked': False, 'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
