OK_FORMAT = True

test = {   'name': 'q3',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> assert isinstance(zero_shot_r1, float) and 0.0 <= zero_shot_r1 <= 1.0\n>>> assert losses[-1] < losses[0]\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
