OK_FORMAT = True

test = {   'name': 'q3',
    'points': None,
    'suites': [   {   'cases': [{'code': '>>> assert 0 <= binding_plain <= 1 and 0 <= binding_hard <= 1\n', 'hidden': False, 'locked': False, 'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
